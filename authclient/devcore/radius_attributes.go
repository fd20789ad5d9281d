package devcore

import (
	"encoding/base64"
	"encoding/binary"
	"math"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// RadiusReplyAttribute is the group (or user) attribute from which devcore
// builds the RADIUS reply attributes that check_access returns, since
// devcore has no property mappings. It is a devcore convention, not
// authentik's: on a real authentik the same result comes from a RADIUS
// provider property mapping. The value is a list of attributes, taken from
// the user's merged group_attributes (groups by name, then the user's own;
// lists are concatenated), for example
//
//	attributes:
//	  goauthentik.io/devcore/radius-reply:
//	    - {type: 11, value: "vlan-10"}            # Filter-Id, a string
//	    - {type: 64, integer: 13}                 # Tunnel-Type = VLAN
//	    - {type: 26, vendor: 14122, vendor_type: 1, value: "x"}  # Vendor-Specific
//
// Entries that do not fit RADIUS (a type outside 1–255, a value longer
// than 253 bytes) are skipped. The result is encoded as authentik encodes
// it: a RADIUS packet (an Access-Request skeleton) in base64.
const RadiusReplyAttribute = "goauthentik.io/devcore/radius-reply"

// radiusAttributes returns check_access's attributes for u ("" for none).
func (v *view) radiusAttributes(u *model.User) string {
	list, _ := v.groupAttributes(u)[RadiusReplyAttribute].([]any)
	var attrs []byte
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		typ, ok := intAttr(m, "type")
		if !ok || typ < 1 || typ > 255 {
			continue
		}
		value, ok := attrValue(m)
		if !ok {
			continue
		}
		if vendor, ok := intAttr(m, "vendor"); ok && typ == 26 {
			vt, ok := intAttr(m, "vendor_type")
			if !ok || vt < 1 || vt > 255 || vendor < 0 || vendor > math.MaxUint32 || len(value) > 247 {
				continue
			}
			vsa := binary.BigEndian.AppendUint32(nil, uint32(vendor))
			vsa = append(vsa, byte(vt), byte(len(value)+2))
			value = append(vsa, value...)
		}
		if len(value) > 253 || len(attrs)+len(value)+2 > 4096-20 {
			continue
		}
		attrs = append(attrs, byte(typ), byte(len(value)+2))
		attrs = append(attrs, value...)
	}
	if len(attrs) == 0 {
		return ""
	}
	pkt := make([]byte, 20, 20+len(attrs))
	pkt[0] = 1 // Access-Request, as pyrad's RequestPacket() writes it
	binary.BigEndian.PutUint16(pkt[2:4], uint16(20+len(attrs)))
	pkt = append(pkt, attrs...)
	return base64.StdEncoding.EncodeToString(pkt)
}

func intAttr(m map[string]any, key string) (int64, bool) {
	switch n := m[key].(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

func attrValue(m map[string]any) ([]byte, bool) {
	if s, ok := m["value"].(string); ok {
		return []byte(s), true
	}
	if n, ok := intAttr(m, "integer"); ok && n >= 0 && n <= math.MaxUint32 {
		return binary.BigEndian.AppendUint32(nil, uint32(n)), true
	}
	return nil, false
}

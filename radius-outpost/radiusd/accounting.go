package radiusd

import (
	"net/netip"
	"strconv"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
)

// accountingRequest logs and counts an Accounting-Request and acknowledges
// it. Nothing is stored: authentik has no accounting model, and a NAS that
// gets no Accounting-Response retransmits for ever (authentik does not
// answer them at all).
func (s *Server) accountingRequest(p *Provider, req *radius.Packet, src netip.AddrPort) *radius.Packet {
	status := "unknown"
	if v, err := rfc2866.AcctStatusType_Lookup(req); err == nil {
		status = statusName(v)
	}
	s.m.accounting.WithLabelValues(s.outpostName(), status, p.AppSlug).Inc()
	s.log.Info().Str("provider", p.Name).Str("app", p.AppSlug).Stringer("client", src.Addr()).
		Str("status_type", status).
		Str("username", rfc2865.UserName_GetString(req)).
		Str("acct_session_id", rfc2866.AcctSessionID_GetString(req)).
		Str("calling_station_id", rfc2865.CallingStationID_GetString(req)).
		Msg("accounting-request")
	return req.Response(radius.CodeAccountingResponse)
}

func statusName(v rfc2866.AcctStatusType) string {
	switch v {
	case rfc2866.AcctStatusType_Value_Start:
		return "start"
	case rfc2866.AcctStatusType_Value_Stop:
		return "stop"
	case rfc2866.AcctStatusType_Value_InterimUpdate:
		return "interim_update"
	case rfc2866.AcctStatusType_Value_AccountingOn:
		return "accounting_on"
	case rfc2866.AcctStatusType_Value_AccountingOff:
		return "accounting_off"
	}
	// A bounded label set: other values are rare and all alike here.
	if v > 15 {
		return "other"
	}
	return "type_" + strconv.Itoa(int(v))
}

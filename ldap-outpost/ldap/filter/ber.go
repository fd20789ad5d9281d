package filter

import (
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// FromBER decodes the Filter CHOICE of a search request (RFC 4511 §4.5.1).
func FromBER(p *ber.Packet) (*Filter, error) {
	n := 0
	return fromBER(p, 0, &n)
}

func content(p *ber.Packet) string {
	if p.Data == nil {
		return ""
	}
	return p.Data.String()
}

func fromBER(p *ber.Packet, depth int, nodes *int) (*Filter, error) {
	if p == nil {
		return nil, errors.New("filter: missing")
	}
	if depth > maxDepth {
		return nil, syntax("nested deeper than %d", maxDepth)
	}
	*nodes++
	if *nodes > maxNodes {
		return nil, syntax("more than %d items", maxNodes)
	}
	if p.ClassType != ber.ClassContext || p.Tag > 9 {
		return nil, syntax("filter element is not a context-tagged CHOICE 0-9")
	}
	f := &Filter{Kind: Kind(p.Tag)}
	switch f.Kind {
	case And, Or:
		for _, c := range p.Children {
			cf, err := fromBER(c, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			f.Children = append(f.Children, cf)
		}
	case Not:
		if len(p.Children) != 1 {
			return nil, syntax("not needs one filter")
		}
		c, err := fromBER(p.Children[0], depth+1, nodes)
		if err != nil {
			return nil, err
		}
		f.Children = []*Filter{c}
	case Equal, GreaterEq, LessEq, Approx:
		if len(p.Children) != 2 {
			return nil, syntax("attribute value assertion needs two fields")
		}
		f.Attr, f.Value = content(p.Children[0]), content(p.Children[1])
	case Present:
		f.Attr = content(p)
	case Substrings:
		if len(p.Children) != 2 {
			return nil, syntax("substrings needs a type and substrings")
		}
		f.Attr = content(p.Children[0])
		subs := p.Children[1].Children
		if len(subs) == 0 {
			return nil, syntax("substrings without any substring")
		}
		for i, s := range subs {
			if s.ClassType != ber.ClassContext {
				return nil, syntax("substring is not context-tagged")
			}
			switch s.Tag {
			case 0:
				if i != 0 {
					return nil, syntax("initial substring not first")
				}
				f.Initial = content(s)
			case 1:
				f.Any = append(f.Any, content(s))
			case 2:
				if i != len(subs)-1 {
					return nil, syntax("final substring not last")
				}
				f.Final = content(s)
			default:
				return nil, syntax("substring choice %d", s.Tag)
			}
		}
	case Extensible:
		for _, c := range p.Children {
			if c.ClassType != ber.ClassContext {
				return nil, syntax("extensible match field is not context-tagged")
			}
			switch c.Tag {
			case 1:
				f.Rule = content(c)
			case 2:
				f.Attr = content(c)
			case 3:
				f.Value = content(c)
			case 4:
				v, _ := c.Value.(bool)
				if len(c.ByteValue) > 0 || c.Data.Len() > 0 {
					v = c.Data.Len() > 0 && c.Data.Bytes()[0] != 0
				}
				f.DNAttrs = v
			default:
				return nil, syntax("extensible match field %d", c.Tag)
			}
		}
		if f.Attr == "" && f.Rule == "" {
			return nil, syntax("extensible match needs an attribute or a matching rule")
		}
	}
	if f.Kind != And && f.Kind != Or && f.Kind != Not && f.Kind != Extensible && f.Attr == "" {
		return nil, syntax("empty attribute description")
	}
	if f.Attr != "" && !validAttr(f.Attr) {
		return nil, fmt.Errorf("%w: invalid attribute description %q", ErrSyntax, f.Attr)
	}
	return f, nil
}

package radiusd

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/flow"
)

// rejectMessage is the Reply-Message of every Access-Reject. It is the same
// whatever went wrong, so a client learns nothing about which usernames
// exist, whether the password or the code was wrong, or whether policies,
// rate limiting or an outage rejected it. The reason is in the log and the
// metrics.
const rejectMessage = "Authentication failed"

// Reject reasons on top of authentik's (flow.Reason values,
// attribute_decode_failed, attribute_parse_failed).
const (
	reasonRateLimited       = "rate_limited"
	reasonUnsupportedMethod = "unsupported_method"
	reasonNoUsername        = "invalid_request"
	reasonAttrDecode        = "attribute_decode_failed"
	reasonAttrParse         = "attribute_parse_failed"
)

type accessOutcome struct {
	reason string // "" for accept
	cache  string // credential cache result for the log: hit, fallback, miss, bypass
	err    error
	attrs  radius.Attributes
}

func (s *Server) accessRequest(ctx context.Context, p *Provider, req *radius.Packet, src netip.AddrPort, detach func()) *radius.Packet {
	start := time.Now()
	username := rfc2865.UserName_GetString(req)
	clientIP := src.Addr().String()
	out := s.checkAccess(ctx, p, req, username, clientIP, detach)
	elapsed := time.Since(start)
	outpost := s.outpostName()
	pm := s.providerMetrics(p, outpost)
	pm.duration.Observe(elapsed.Seconds())
	pm.durationLegacy.Observe(elapsed.Seconds())

	ev := s.log.Info()
	if out.reason != "" {
		ev = s.log.Warn()
	}
	ev = ev.Str("request_id", s.requestID()).Str("provider", p.Name).Str("app", p.AppSlug).
		Str("username", username).Str("client", clientIP).Uint8("identifier", req.Identifier).
		Str("cache", out.cache).Dur("duration", elapsed)
	if out.reason != "" {
		s.m.rejected.WithLabelValues(outpost, out.reason, p.AppSlug).Inc()
		s.m.rejectedLegacy.WithLabelValues(outpost, out.reason, p.AppSlug).Inc()
		ev.Str("reason", out.reason).AnErr("error", out.err).Msg("access-reject")
		resp := req.Response(radius.CodeAccessReject)
		_ = rfc2865.ReplyMessage_SetString(resp, rejectMessage)
		return resp
	}
	ev.Int("attributes", len(out.attrs)).Msg("access-accept")
	resp := req.Response(radius.CodeAccessAccept)
	resp.Attributes = append(resp.Attributes, out.attrs...)
	return resp
}

func (s *Server) checkAccess(ctx context.Context, p *Provider, req *radius.Packet, username, clientIP string, detach func()) accessOutcome {
	if username == "" {
		return accessOutcome{reason: reasonNoUsername, cache: "bypass"}
	}
	if _, ok := req.Lookup(rfc2865.UserPassword_Type); !ok {
		// CHAP-Password, MS-CHAP, EAP-Message or nothing: authentik's flows
		// cannot check any of these (see the package doc).
		return accessOutcome{reason: reasonUnsupportedMethod, cache: "bypass", err: errors.New(methodOf(req))}
	}
	password, err := rfc2865.UserPassword_LookupString(req)
	if err != nil {
		return accessOutcome{reason: string(flow.ReasonInvalidCredentials), cache: "bypass", err: errors.New("undecodable User-Password")}
	}
	scope := p.scope()
	station := limitClient(req, clientIP)
	if s.limiter != nil && !s.limiter.Allow(ctx, scope, username, station) {
		return accessOutcome{reason: reasonRateLimited, cache: "bypass"}
	}

	// The cache never answers for providers with mfa_support: only the core
	// can check the second factor (credcache package doc).
	useCache := s.creds != nil && !p.MFA
	var cached credcache.Entry
	var hit bool
	if useCache {
		cached, hit = s.creds.Check(ctx, scope, username, password)
		if hit && s.users != nil && !s.users.valid(cached) {
			// The user's password changed or they were deactivated after
			// this success: never answer with it, not even in an outage.
			s.creds.Invalidate(ctx, scope, username)
			s.m.credCache.WithLabelValues(s.outpostName(), "voided", p.AppSlug).Inc()
			hit = false
		}
		if hit && (cached.Age(time.Now()) < s.freshFor || s.coreDown()) {
			return s.fromCache(p, cached, "hit")
		}
	}

	detach() // the core may take a while: let another goroutine read
	flowStart := time.Now()
	actx, cancel := context.WithTimeout(ctx, s.authTimeout)
	res, err := s.auth.Authenticate(actx, AuthRequest{Provider: p, Username: username, Password: password, ClientIP: clientIP,
		WantUserPK: useCache && s.users != nil})
	cancel()
	cacheResult := "miss"
	if !useCache {
		cacheResult = "bypass"
	}
	if err != nil {
		if flow.IsUnavailable(err) && ctx.Err() == nil {
			s.markCoreDown()
			if hit {
				return s.fromCache(p, cached, "fallback")
			}
			return accessOutcome{reason: string(flow.ReasonUnavailable), cache: cacheResult, err: err}
		}
		reason := string(flow.ReasonOf(err))
		if reason == "" {
			reason = string(flow.ReasonFlowError)
		}
		if reason == string(flow.ReasonInvalidCredentials) && s.limiter != nil {
			s.limiter.Fail(ctx, scope, username, station)
		}
		if hit {
			// The core said no to a password the cache had: the user was
			// deactivated, lost access, or the password changed.
			s.creds.Invalidate(ctx, scope, username)
		}
		return accessOutcome{reason: reason, cache: cacheResult, err: err}
	}
	s.markCoreUp()

	raw, attrs, reason, err := decodeAttributes(res.Attributes, p.Secret)
	if reason != "" {
		return accessOutcome{reason: reason, cache: cacheResult, err: err}
	}
	if s.limiter != nil {
		s.limiter.Reset(ctx, scope, username)
	}
	if useCache {
		e := credcache.Entry{UserPK: res.UserPK, IsActive: true, SessionID: res.SessionID, Data: raw}
		if s.users != nil && res.UserPK != 0 {
			e.PasswordChangeDate = s.users.passwordChangeDate(res.UserPK, flowStart)
		}
		s.creds.Store(ctx, scope, username, password, e)
		s.m.credCache.WithLabelValues(s.outpostName(), "miss", p.AppSlug).Inc()
	}
	return accessOutcome{cache: cacheResult, attrs: attrs}
}

func (s *Server) fromCache(p *Provider, e credcache.Entry, result string) accessOutcome {
	if result == "hit" {
		s.providerMetrics(p, s.outpostName()).cacheHit.Inc()
	} else {
		s.m.credCache.WithLabelValues(s.outpostName(), result, p.AppSlug).Inc()
	}
	attrs, err := radius.ParseAttributes(e.Data)
	if err != nil {
		// Written by us, so this is corruption: reject rather than accept
		// without the attributes the core wanted.
		return accessOutcome{reason: reasonAttrParse, cache: result, err: err}
	}
	return accessOutcome{cache: result, attrs: attrs}
}

// decodeAttributes turns check_access's attributes (base64 of a RADIUS
// packet built by the core) into the attributes to copy into the
// Access-Accept, and their wire form for the credential cache.
func decodeAttributes(b64 string, secret []byte) (raw []byte, attrs radius.Attributes, reason string, err error) {
	if b64 == "" {
		return nil, nil, "", nil
	}
	pkt, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, nil, reasonAttrDecode, err
	}
	p, err := radius.Parse(pkt, secret)
	if err != nil {
		return nil, nil, reasonAttrParse, err
	}
	for _, a := range p.Attributes {
		// The core's packet is a request skeleton: never copy its own
		// Message-Authenticator (we sign the reply ourselves).
		if a.Type != rfc2869.MessageAuthenticator_Type {
			attrs = append(attrs, a)
		}
	}
	raw, err = encodeAttributes(attrs)
	if err != nil {
		return nil, nil, reasonAttrParse, err
	}
	return raw, attrs, "", nil
}

func encodeAttributes(attrs radius.Attributes) ([]byte, error) {
	p := radius.Packet{Code: radius.CodeAccessAccept, Attributes: attrs}
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return b[headerLen:], nil
}

func methodOf(req *radius.Packet) string {
	switch {
	case hasAttr(req, rfc2869.EAPMessage_Type):
		return "EAP is not supported"
	case hasAttr(req, rfc2865.CHAPPassword_Type):
		return "CHAP is not supported"
	case hasAttr(req, radius.Type(26)):
		return "no User-Password (MS-CHAP or a vendor method?)"
	}
	return "no User-Password"
}

func hasAttr(p *radius.Packet, t radius.Type) bool {
	_, ok := p.Lookup(t)
	return ok
}

func (s *Server) coreDown() bool {
	return time.Now().UnixNano() < s.coreDownTill.Load()
}

func (s *Server) markCoreDown() {
	s.coreDownTill.Store(time.Now().Add(coreDownFor).UnixNano())
}

func (s *Server) markCoreUp() {
	if s.coreDownTill.Load() != 0 {
		s.coreDownTill.Store(0)
	}
}

// limitClient is the "client" the failed-attempt limiter counts: the end
// station behind the NAS when the NAS names it (Calling-Station-Id, a MAC
// address for Wi-Fi and switches), else the NAS itself. Behind a Wi-Fi
// controller or a FreeRADIUS proxy every user arrives from the same address,
// so counting by address alone would let a few mistyped passwords lock out
// everyone on that NAS. The attribute comes from the NAS, which proved it
// holds the shared secret; a station that changes its MAC to dodge the count
// still meets the per-user limit.
func limitClient(req *radius.Packet, nas string) string {
	station := rfc2865.CallingStationID_Get(req)
	if len(station) == 0 {
		return nas
	}
	return nas + "/" + string(station)
}

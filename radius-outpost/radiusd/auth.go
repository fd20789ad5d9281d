package radiusd

import (
	"context"

	"github.com/outpost-go/outposts/authclient/flow"
)

// FlowQuery tells the core that a RADIUS outpost runs the flow.
const FlowQuery = "goauthentik.io/outpost/radius=true"

// AuthRequest is one PAP check.
type AuthRequest struct {
	Provider *Provider
	Username string
	Password string
	// ClientIP is the NAS address, forwarded to the core as the client IP
	// (as authentik does: policies see the switch or access point).
	ClientIP string
	// WantUserPK asks for AuthResult.UserPK (one more core request).
	WantUserPK bool
}

// AuthResult is a successful check.
type AuthResult struct {
	// Attributes are the reply attributes from check_access, as the core
	// sends them (a base64 RADIUS packet; "" for none).
	Attributes string
	// SessionID is the core session, for SESSION_END.
	SessionID string
	// UserPK is the authenticated user when WantUserPK was set and the
	// core said; 0 otherwise.
	UserPK int32
}

// Authenticator checks a username and password with the core. Errors are
// *flow.Failure values; flow.IsUnavailable tells a core outage from a "no".
type Authenticator interface {
	Authenticate(ctx context.Context, r AuthRequest) (AuthResult, error)
}

// FlowAuthenticator runs the provider's flow and check_access, as
// authentik's RADIUS outpost does.
type FlowAuthenticator struct {
	Executor *flow.Executor
}

// Authenticate implements Authenticator.
func (f FlowAuthenticator) Authenticate(ctx context.Context, r AuthRequest) (AuthResult, error) {
	s, err := f.Executor.Authenticate(ctx, flow.Request{
		Flow:       r.Provider.FlowSlug,
		Query:      FlowQuery,
		Username:   r.Username,
		Password:   r.Password,
		ClientIP:   r.ClientIP,
		MFASupport: r.Provider.MFA,
	})
	if err != nil {
		return AuthResult{}, err
	}
	attrs, err := s.CheckRadiusAccess(ctx, r.Provider.PK, r.Provider.AppSlug)
	if err != nil {
		return AuthResult{}, err
	}
	res := AuthResult{Attributes: attrs, SessionID: s.ID()}
	if r.WantUserPK {
		// Without it the entry is merely not checked against user
		// changes (the fresh window still applies): not worth a reject.
		if me, err := s.Me(ctx); err == nil {
			res.UserPK = me.User.Pk
		}
	}
	return res, nil
}

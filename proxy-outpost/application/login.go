package application

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/outpost-go/outposts/proxy-outpost/idtoken"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// SessionState names what was found for a request's session cookie; the
// diagnostics endpoint reports it.
type SessionState string

// Session states.
const (
	SessionNone      SessionState = "none"
	SessionValid     SessionState = "valid"
	SessionInvalid   SessionState = "invalid_cookie"
	SessionNotFound  SessionState = "not_found"
	SessionExpired   SessionState = "expired"
	SessionRevoked   SessionState = "revoked"
	SessionRefreshed SessionState = "refreshed"
)

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *App) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, a.deps.HTTPClient)
}

// cookieID finds the session ID in the request's cookies: the first
// cookie with the session cookie's name whose value the store accepts.
// SessionNone means there was no such cookie, SessionInvalid that none
// was valid. Only the cookies of that name are looked at: r.Cookie parses
// and allocates every cookie of the request, on every request.
func (a *App) cookieID(r *http.Request) (session.ID, SessionState) {
	state := SessionNone
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(textproto.TrimString(part), "=")
			if !ok || name != a.cookieName {
				continue
			}
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				// net/http takes a quoted value without its quotes.
				value = value[1 : len(value)-1]
			}
			if id, err := a.sessions.ParseCookie(value); err == nil {
				return id, SessionValid
			}
			state = SessionInvalid
		}
	}
	return session.ID{}, state
}

// currentSession loads the request's session, refreshing its tokens when
// they have expired and a refresh token is at hand.
func (a *App) currentSession(ctx context.Context, r *http.Request) (*session.Session, session.ID, SessionState) {
	id, state := a.cookieID(r)
	if id.IsZero() {
		return nil, id, state
	}
	sess, err := a.sessions.Load(ctx, id)
	switch {
	case errors.Is(err, session.ErrExpired):
		return nil, id, SessionExpired
	case errors.Is(err, session.ErrRevoked):
		return nil, id, SessionRevoked
	case errors.Is(err, session.ErrInvalid):
		return nil, id, SessionInvalid
	case err != nil:
		return nil, id, SessionNotFound
	}
	state = SessionValid
	if !sess.TokenExpiry.IsZero() && time.Now().After(sess.TokenExpiry) {
		if sess.RefreshToken == "" {
			a.sessions.Delete(ctx, id)
			return nil, id, SessionExpired
		}
		if err := a.refresh(ctx, id, sess); err != nil {
			a.log.Info().Err(err).Str("session", id.Key()).Msg("token refresh failed, session ends")
			a.sessions.Delete(ctx, id)
			return nil, id, SessionExpired
		}
		state = SessionRefreshed
	} else if err := a.sessions.Touch(ctx, id, sess); err != nil {
		return nil, id, SessionExpired
	}
	return sess, id, state
}

// refresh renews the session's tokens with its refresh token.
func (a *App) refresh(ctx context.Context, id session.ID, sess *session.Session) error {
	src := a.oauth.TokenSource(a.oauthContext(ctx), &oauth2.Token{RefreshToken: sess.RefreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		return fmt.Errorf("refresh token: %w", err)
	}
	claims, idt, err := a.claimsFromToken(ctx, tok, "")
	if err != nil {
		return err
	}
	if claims.Sub != sess.Claims.Sub {
		return errors.New("refresh token: subject changed")
	}
	sess.Claims = claims
	sess.RawToken = tok.AccessToken
	if idt != "" {
		sess.IDToken = idt
	}
	if tok.RefreshToken != "" {
		sess.RefreshToken = tok.RefreshToken
	}
	sess.TokenExpiry = tok.Expiry
	sess.LastSeen = time.Now()
	return a.sessions.Save(ctx, id, sess)
}

// claimsFromToken verifies a token response: the ID token (audience,
// issuer, expiry, nonce when given) and, if it is a JWT this provider
// signed, the access token, whose claims authentik fills the same way.
func (a *App) claimsFromToken(ctx context.Context, tok *oauth2.Token, nonce string) (session.Claims, string, error) {
	var claims session.Claims
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		return claims, "", errors.New("token response has no id_token")
	}
	raw, err := a.verifier.Verify(ctx, idt, idtoken.Options{Nonce: nonce, Audience: true})
	if err != nil {
		return claims, "", fmt.Errorf("verify id token: %w", err)
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return claims, "", fmt.Errorf("decode id token claims: %w", err)
	}
	if tok.AccessToken != "" {
		if araw, err := a.verifier.Verify(ctx, tok.AccessToken, idtoken.Options{}); err == nil {
			var ac session.Claims
			if json.Unmarshal(araw, &ac) == nil && ac.Sub == claims.Sub {
				mergeClaims(&claims, ac)
			}
		}
	}
	if claims.Sub == "" {
		return claims, "", errors.New("id token has no sub")
	}
	return claims, idt, nil
}

// mergeClaims fills what the ID token left out from the access token.
func mergeClaims(c *session.Claims, from session.Claims) {
	if c.Email == "" {
		c.Email = from.Email
	}
	if c.Name == "" {
		c.Name = from.Name
	}
	if c.PreferredUsername == "" {
		c.PreferredUsername = from.PreferredUsername
	}
	if len(c.Groups) == 0 {
		c.Groups = from.Groups
	}
	if len(c.Entitlements) == 0 {
		c.Entitlements = from.Entitlements
	}
	if c.Sid == "" {
		c.Sid = from.Sid
	}
	if c.Proxy == nil {
		c.Proxy = from.Proxy
	}
}

func (a *App) setCookie(w http.ResponseWriter, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     a.cookieName,
		Value:    value,
		Path:     "/",
		Domain:   a.cookieDomain,
		MaxAge:   int(maxAge.Seconds()),
		Secure:   a.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (a *App) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName, Value: "", Path: "/", Domain: a.cookieDomain, MaxAge: -1,
		Secure: a.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// beginLogin starts the authorization code flow and answers with the
// redirect to authentik. The state is stored server-side and bound to the
// browser's session cookie (made here if there is none).
func (a *App) beginLogin(w http.ResponseWriter, r *http.Request, redirect string) {
	id, err := a.loginID(r)
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Could not start the login.")
		return
	}
	state, verifier, nonce := randomString(), oauth2.GenerateVerifier(), randomString()
	err = a.sessions.PutLogin(r.Context(), state, session.Login{
		SessionKey: id.Key(), Verifier: verifier, Nonce: nonce, Redirect: a.checkRedirect(redirect),
	})
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Could not start the login.")
		return
	}
	a.setCookie(w, id.Cookie(), a.sessions.MaxLifetime())
	u := a.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
}

// loginID keeps the browser's current session ID (so parallel logins in
// several tabs share it) or makes one.
func (a *App) loginID(r *http.Request) (session.ID, error) {
	if id, _ := a.cookieID(r); !id.IsZero() {
		return id, nil
	}
	return a.sessions.NewID()
}

func (a *App) handleStart(w http.ResponseWriter, r *http.Request) {
	a.beginLogin(w, r, r.URL.Query().Get("rd"))
}

// handleCallback finishes a login: the state must be one this outpost
// issued, unused, and started by the same browser session; the code is
// exchanged with the PKCE verifier and the ID token verified.
func (a *App) handleCallback(w http.ResponseWriter, r *http.Request, q url.Values) {
	ctx := r.Context()
	login, ok := a.sessions.TakeLogin(ctx, q.Get("state"))
	if !ok {
		a.log.Info().Msg("callback with an unknown or used state")
		a.restartPage(w, r, "This login link has expired or was already used.")
		return
	}
	if id, _ := a.cookieID(r); id.IsZero() || id.Key() != login.SessionKey {
		a.log.Info().Msg("callback from a different browser session than the one that started the login")
		a.restartPage(w, r, "This login was started in another browser session.")
		return
	}
	if e := q.Get("error"); e != "" {
		a.log.Info().Str("error", e).Msg("authorization failed at the provider")
		a.errorPage(w, r, http.StatusForbidden, "Access denied: "+e)
		return
	}
	tok, err := a.oauth.Exchange(a.oauthContext(ctx), q.Get("code"), oauth2.VerifierOption(login.Verifier))
	if err != nil {
		a.log.Warn().Err(err).Msg("code exchange failed")
		a.errorPage(w, r, http.StatusBadGateway, "The login could not be completed.")
		return
	}
	claims, idt, err := a.claimsFromToken(ctx, tok, login.Nonce)
	if err != nil {
		a.log.Warn().Err(err).Msg("token verification failed")
		a.errorPage(w, r, http.StatusBadRequest, "The login could not be verified.")
		return
	}
	// A new ID for the authenticated session: a pre-login cookie an
	// attacker planted never becomes a logged-in session (fixation).
	newID, err := a.sessions.NewID()
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Could not create a session.")
		return
	}
	now := time.Now()
	sess := &session.Session{
		Claims:       claims,
		RawToken:     tok.AccessToken,
		IDToken:      idt,
		RefreshToken: tok.RefreshToken,
		TokenExpiry:  tok.Expiry,
		Created:      now,
		LastSeen:     now,
		Epoch:        a.sessions.Epoch(ctx, claims.Sub),
	}
	if err := a.sessions.Save(ctx, newID, sess); err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Could not create a session.")
		return
	}
	a.sessions.IndexSID(ctx, claims.Sid, newID)
	a.setCookie(w, newID.Cookie(), a.sessions.MaxLifetime())
	a.log.Info().Str("user", claims.PreferredUsername).Str("session", newID.Key()).Msg("login completed")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, a.checkRedirect(login.Redirect), http.StatusFound)
}

// handleSignOut ends every session of the caller's user for this
// provider, on every replica, and sends the browser to authentik's
// end-session endpoint.
func (a *App) handleSignOut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := a.endSession
	sess, id, _ := a.currentSession(ctx, r)
	if sess != nil {
		a.sessions.RevokeUser(ctx, sess.Claims.Sub)
		a.sessions.Delete(ctx, id)
		if sess.IDToken != "" && target != "" {
			if u, err := url.Parse(target); err == nil {
				q := u.Query()
				q.Set("id_token_hint", sess.IDToken)
				u.RawQuery = q.Encode()
				target = u.String()
			}
		}
		a.log.Info().Str("user", sess.Claims.PreferredUsername).Msg("signed out")
	}
	a.clearCookie(w)
	w.Header().Set("Cache-Control", "no-store")
	if target == "" {
		target = a.external.String()
	}
	http.Redirect(w, r, target, http.StatusFound)
}

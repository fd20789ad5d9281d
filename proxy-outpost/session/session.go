// Package session keeps the proxy outpost's login sessions in the shared
// cache (authclient/cache), so that every replica of the outpost sees the
// same sessions and a sign-out on one replica is refused on all of them at
// once.
//
// # Layout
//
// The browser holds only an opaque, signed session ID (the cookie). In the
// cache a session is stored under a hash of that ID, encrypted and
// authenticated (AES-256-GCM) with a key derived (HKDF-SHA256) from the
// provider's cookie_secret and the session ID itself: someone who can read
// the cache but holds no cookie can neither read nor forge a session.
//
// # Revocation
//
// Each user (the token's sub) has a revocation epoch. A session records the
// epoch current when it was created and is valid only while the epoch has
// not moved. Signing out bumps the epoch: one write revokes every session
// of that user on every replica, without scanning the store. The epoch is
// checked on every request. With a Near in front of Redis it is answered
// from a local copy that the revocation's pub/sub message drops on every
// replica, and read from Redis whenever the subscription is not live, so a
// revocation is seen by the next request whichever replica serves it.
// A per-IdP-session index (the token's sid) lets the core's SESSION_END
// delete exactly the sessions that belong to the ended authentik session.
//
// # Login state
//
// A login in progress (state, PKCE verifier, nonce, where to go back to) is
// kept server-side under its state value for a few minutes and bound to the
// browser's session ID, so several tabs may log in at once and a state can
// be used once only.
package session

import (
	"errors"
	"sync/atomic"
	"time"
)

// ProxyClaims is the ak_proxy claim authentik adds for proxy providers.
type ProxyClaims struct {
	UserAttributes  map[string]any `json:"user_attributes,omitempty"`
	BackendOverride string         `json:"backend_override,omitempty"`
	HostHeader      string         `json:"host_header,omitempty"`
	IsSuperuser     bool           `json:"is_superuser,omitempty"`
}

// Claims are the identity claims a session carries, as authentik puts them
// in its tokens.
type Claims struct {
	Sub               string       `json:"sub"`
	Exp               int64        `json:"exp,omitempty"`
	Email             string       `json:"email,omitempty"`
	EmailVerified     bool         `json:"email_verified,omitempty"`
	Name              string       `json:"name,omitempty"`
	PreferredUsername string       `json:"preferred_username,omitempty"`
	Groups            []string     `json:"groups,omitempty"`
	Entitlements      []string     `json:"entitlements,omitempty"`
	Sid               string       `json:"sid,omitempty"`
	Proxy             *ProxyClaims `json:"ak_proxy,omitempty"`
}

// Session is one browser's (or API client's) login with one provider.
type Session struct {
	Claims Claims `json:"claims"`
	// RawToken is the access token (sent upstream as X-authentik-jwt).
	RawToken string `json:"raw_token,omitempty"`
	// IDToken is the raw ID token, the id_token_hint at sign-out.
	IDToken string `json:"id_token,omitempty"`
	// RefreshToken renews RawToken before it expires.
	RefreshToken string `json:"refresh_token,omitempty"`
	// TokenExpiry is when RawToken expires.
	TokenExpiry time.Time `json:"token_expiry"`
	// Created and LastSeen drive the absolute and idle lifetimes.
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// Epoch is the user's revocation epoch when the session was created.
	Epoch uint64 `json:"epoch"`

	// epochKey caches the cache key of the user's epoch (a SHA-256 of
	// the subject) with the decoded session.
	epochKey string
	// memo is shared by the copies Load hands out of one decoding.
	memo *memo
}

// memo holds what is derived from one decoded version of a session.
type memo struct {
	rendered atomic.Pointer[[]byte]
}

// Rendered returns render(sess), computed once per decoded version of the
// session and shared by every request that loads that version: the
// identity headers of a session are the same bytes on every request, and
// building them was a large part of a forward-auth check. render must
// depend only on the session and on what is fixed for the store's
// lifetime. Save starts afresh, so a session changed by a refresh is
// rendered again.
func (sess *Session) Rendered(render func(*Session) []byte) []byte {
	m := sess.memo
	if m == nil {
		return render(sess)
	}
	if b := m.rendered.Load(); b != nil {
		return *b
	}
	b := render(sess)
	m.rendered.Store(&b)
	return b
}

// Login is a login in progress, between /start and /callback.
type Login struct {
	// SessionKey is the storage key of the session that started the login;
	// the callback must come with the same session cookie.
	SessionKey string `json:"session_key"`
	Verifier   string `json:"verifier"`
	Nonce      string `json:"nonce"`
	// Redirect is where to send the browser after the login.
	Redirect string `json:"redirect"`
}

// Errors Load returns; callers treat all of them as "not logged in".
var (
	ErrNotFound = errors.New("session not found")
	ErrExpired  = errors.New("session expired")
	ErrRevoked  = errors.New("session revoked")
	ErrInvalid  = errors.New("session cookie invalid")
)

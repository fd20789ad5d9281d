package devcore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5" //nolint:gosec // authentik's key id is an md5 of the key; not a security use
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// OIDC constants, as authentik names them.
const (
	acrDefault = "goauthentik.io/providers/oauth2/default"
	// codeTTL is authentik's default access_code_validity (minutes=1).
	codeTTL = time.Minute
	// refreshTTL is authentik's default refresh_token_validity (days=30).
	refreshTTL = 30 * 24 * time.Hour
	// maxGrants bounds the codes and tokens kept in memory.
	maxGrants = 20000
)

// scopesAllowed are the scope mappings a proxy provider gets from
// set_oauth_defaults, plus offline_access, which devcore also grants so
// outposts can test token refresh (authentik's proxy providers do not
// carry that mapping, so a real core drops the scope).
var scopesAllowed = []string{"openid", "profile", "email", "entitlements", "ak_proxy", "offline_access"}

// grant is what a code, an access token or a refresh token stands for.
type grant struct {
	providerPK int32
	userPK     int32
	scopes     []string
	sid        string // core session id; "" for client_credentials
	authTime   time.Time
	amr        []string
	nonce      string
	expires    time.Time
	// claims is the ID token the grant was issued with, for introspection.
	claims map[string]any
}

// authCode is an authorization code waiting to be exchanged.
type authCode struct {
	grant
	redirectURI string
	challenge   string
	method      string
}

// loginInfo is how a browser session logged in.
type loginInfo struct {
	at  time.Time
	amr []string
	mfa bool // an MFA code was accepted during the current flow
}

// oidcState is the provider's mutable state; the view stays immutable.
type oidcState struct {
	mu      sync.Mutex
	codes   map[string]*authCode // code -> pending grant
	access  map[string]*grant    // sha256(token) -> grant
	refresh map[string]*grant    // sha256(token) -> grant
	logins  map[string]loginInfo // session id -> login facts
	keys    map[string]*signingKey
}

func newOIDCState() *oidcState {
	return &oidcState{
		codes:   map[string]*authCode{},
		access:  map[string]*grant{},
		refresh: map[string]*grant{},
		logins:  map[string]loginInfo{},
		keys:    map[string]*signingKey{},
	}
}

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// pruneGrants drops expired entries and, when still over the cap, the
// entries closest to expiry.
func pruneGrants[T any](m map[string]T, expires func(T) time.Time, now time.Time) {
	if len(m) < maxGrants {
		return
	}
	for k, g := range m {
		if now.After(expires(g)) {
			delete(m, k)
		}
	}
	if len(m) < maxGrants {
		return
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool { return expires(m[keys[i]]).Before(expires(m[keys[j]])) })
	for _, k := range keys[:len(keys)-maxGrants+1] {
		delete(m, k)
	}
}

func (st *oidcState) putCode(code string, c *authCode, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	pruneGrants(st.codes, func(c *authCode) time.Time { return c.expires }, now)
	st.codes[code] = c
}

// takeCode removes and returns a code: codes are single use even when the
// exchange then fails.
func (st *oidcState) takeCode(code string) *authCode {
	st.mu.Lock()
	defer st.mu.Unlock()
	c, ok := st.codes[code]
	if !ok {
		return nil
	}
	delete(st.codes, code)
	return c
}

func (st *oidcState) putToken(m map[string]*grant, tok string, g *grant, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	pruneGrants(m, func(g *grant) time.Time { return g.expires }, now)
	m[tokenHash(tok)] = g
}

func (st *oidcState) lookup(m map[string]*grant, tok string, now time.Time) *grant {
	st.mu.Lock()
	defer st.mu.Unlock()
	g, ok := m[tokenHash(tok)]
	if !ok || now.After(g.expires) {
		return nil
	}
	return g
}

func (st *oidcState) revokeRefresh(tok string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.refresh, tokenHash(tok))
}

// endSession forgets a session's login and every token bound to it, as
// authentik deletes tokens with their AuthenticatedSession.
func (st *oidcState) endSession(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.logins, sid)
	for _, m := range []map[string]*grant{st.access, st.refresh} {
		for k, g := range m {
			if g.sid == sid {
				delete(m, k)
			}
		}
	}
	for k, c := range st.codes {
		if c.sid == sid {
			delete(st.codes, k)
		}
	}
}

func (st *oidcState) login(sid string) (loginInfo, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.logins[sid]
	return l, ok
}

func (st *oidcState) setLogin(sid string, l loginInfo) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.logins[sid] = l
}

// signingKey is how a provider's tokens are signed and verified.
type signingKey struct {
	method jwt.SigningMethod
	key    any // crypto.Signer, or []byte for HS256
	kid    string
	public crypto.PublicKey
	cert   *x509.Certificate
}

// errNoSigningKey is returned when a provider's signing_key names a
// certificate without a usable private key.
var errNoSigningKey = errors.New("signing key has no usable private key")

// signerFor mirrors OAuth2Provider.jwt_key: the signing_key's private key
// (RS256 for RSA, ES256/384/512 by curve for EC), else HS256 with the
// client secret.
func (s *Server) signerFor(v *view, pp *model.ProxyProvider) (*signingKey, error) {
	if pp.SigningKey == "" {
		return &signingKey{method: jwt.SigningMethodHS256, key: []byte(pp.ClientSecret)}, nil
	}
	c, ok := v.certByPK[pp.SigningKey]
	if !ok || c.KeyData == "" {
		return nil, fmt.Errorf("provider %s: %w", pp.Name, errNoSigningKey)
	}
	cacheKey := c.PK + "/" + tokenHash(c.KeyData)
	s.oidc.mu.Lock()
	k, ok := s.oidc.keys[cacheKey]
	s.oidc.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := parseSigningKey(c)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", pp.Name, err)
	}
	s.oidc.mu.Lock()
	if len(s.oidc.keys) > 64 {
		clear(s.oidc.keys)
	}
	s.oidc.keys[cacheKey] = k
	s.oidc.mu.Unlock()
	return k, nil
}

func parseSigningKey(c *model.Certificate) (*signingKey, error) {
	block, _ := pem.Decode([]byte(c.KeyData))
	if block == nil {
		return nil, fmt.Errorf("certificate %s: %w", c.Name, errNoSigningKey)
	}
	var priv any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %s: parse key: %w", c.Name, err)
	}
	sum := md5.Sum([]byte(c.KeyData)) //nolint:gosec // key id, as authentik derives it
	k := &signingKey{kid: hex.EncodeToString(sum[:])}
	if cert, err := firstCertificate(c.CertificateData); err == nil {
		k.cert = cert
	}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		k.method, k.key, k.public = jwt.SigningMethodRS256, p, &p.PublicKey
	case *ecdsa.PrivateKey:
		switch p.Curve {
		case elliptic.P256():
			k.method = jwt.SigningMethodES256
		case elliptic.P384():
			k.method = jwt.SigningMethodES384
		case elliptic.P521():
			k.method = jwt.SigningMethodES512
		default:
			return nil, fmt.Errorf("certificate %s: unsupported EC curve", c.Name)
		}
		k.key, k.public = p, &p.PublicKey
	default:
		return nil, fmt.Errorf("certificate %s: unsupported key type %T", c.Name, priv)
	}
	return k, nil
}

// signingAlg is the alg a provider's tokens carry, for discovery.
func (s *Server) signingAlg(v *view, pp *model.ProxyProvider) string {
	k, err := s.signerFor(v, pp)
	if err != nil {
		return jwt.SigningMethodRS256.Alg()
	}
	return k.method.Alg()
}

func (k *signingKey) sign(claims map[string]any) (string, error) {
	tok := jwt.NewWithClaims(k.method, jwt.MapClaims(claims))
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	out, err := tok.SignedString(k.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return out, nil
}

// verify checks a token this provider signed; claims are validated too
// unless skipClaims (end-session accepts an expired id_token_hint).
func (k *signingKey) verify(raw string, skipClaims bool) (jwt.MapClaims, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{k.method.Alg()})}
	if skipClaims {
		opts = append(opts, jwt.WithoutClaimsValidation())
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		if b, ok := k.key.([]byte); ok {
			return b, nil
		}
		return k.public, nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	return claims, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public key as authentik's JWKS view lists it.
func (k *signingKey) jwk() map[string]any {
	out := map[string]any{"kid": k.kid, "use": "sig", "alg": k.method.Alg()}
	switch p := k.public.(type) {
	case *rsa.PublicKey:
		out["kty"] = "RSA"
		out["n"] = b64(p.N.Bytes())
		out["e"] = b64(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		out["kty"] = "EC"
		out["crv"] = p.Curve.Params().Name
		out["x"] = b64(p.X.FillBytes(make([]byte, size)))
		out["y"] = b64(p.Y.FillBytes(make([]byte, size)))
	default:
		return nil
	}
	if k.cert != nil {
		s1 := sha1.Sum(k.cert.Raw) //nolint:gosec // x5t is SHA-1 by definition
		s256 := sha256.Sum256(k.cert.Raw)
		out["x5c"] = []string{base64.StdEncoding.EncodeToString(k.cert.Raw)}
		out["x5t"] = b64(s1[:])
		out["x5t#S256"] = b64(s256[:])
	}
	return out
}

// groupAttributes is authentik's User.group_attributes: the attributes of
// every group the user is in (parents included, by name order) merged
// deeply, then the user's own on top.
func (v *view) groupAttributes(u *model.User) map[string]any {
	var groups []*model.Group
	for pk := range v.effectiveGroups(u) {
		if g, ok := v.groupByPK[pk]; ok {
			groups = append(groups, g)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	out := map[string]any{}
	for _, g := range groups {
		deepMerge(out, g.Attributes)
	}
	deepMerge(out, u.Attributes)
	return out
}

func deepMerge(dst, src map[string]any) {
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
			nm := map[string]any{}
			deepMerge(nm, sm)
			dst[k] = nm
			continue
		}
		if sl, ok := sv.([]any); ok {
			if dl, ok := dst[k].([]any); ok {
				dst[k] = append(slices.Clone(dl), sl...)
				continue
			}
			dst[k] = slices.Clone(sl)
			continue
		}
		dst[k] = sv
	}
}

// scopeClaims are the claims of authentik's default scope mappings.
func (v *view) scopeClaims(u *model.User, scopes []string, sid string) map[string]any {
	out := map[string]any{}
	for _, sc := range scopes {
		switch sc {
		case "email":
			out["email"] = u.Email
			out["email_verified"] = false
		case "profile":
			groups := []string{}
			for _, pk := range v.userGroups[u.PK] {
				if g, ok := v.groupByPK[pk]; ok {
					groups = append(groups, g.Name)
				}
			}
			out["name"] = u.Name
			out["given_name"] = u.Name
			out["preferred_username"] = u.Username
			out["nickname"] = u.Username
			out["groups"] = groups
		case "entitlements":
			// devcore has no application entitlements.
			out["entitlements"] = []string{}
			out["roles"] = []string{}
		case "ak_proxy":
			if sid != "" {
				out["sid"] = sid
			} else {
				out["sid"] = nil
			}
			out["ak_proxy"] = map[string]any{
				"user_attributes": v.groupAttributes(u),
				"is_superuser":    v.isSuperuser(u),
			}
		}
	}
	return out
}

// idTokenClaims builds authentik's IDToken.to_dict for g.
func (v *view) idTokenClaims(issuer string, pp *model.ProxyProvider, u *model.User, g *grant, now time.Time) map[string]any {
	c := v.scopeClaims(u, g.scopes, g.sid)
	c["iss"] = issuer
	c["sub"] = userUID(u.PK)
	c["aud"] = pp.ClientID
	c["exp"] = g.expires.Unix()
	c["iat"] = now.Unix()
	c["auth_time"] = g.authTime.Unix()
	c["acr"] = acrDefault
	if len(g.amr) > 0 {
		c["amr"] = g.amr
	}
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	if g.sid != "" {
		// The outpost maps SESSION_END to its sessions through sid.
		c["sid"] = g.sid
	}
	return c
}

// intersectScopes keeps the requested scopes the provider has mappings
// for, as authentik's __check_scopes does; the order is stable.
func intersectScopes(requested []string) []string {
	out := []string{}
	for _, s := range requested {
		if slices.Contains(scopesAllowed, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func splitScopes(s string) []string {
	return strings.Fields(s)
}

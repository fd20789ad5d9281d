// Package idtoken verifies the JWTs authentik issues to a proxy provider:
// signatures against the provider's JWKS (RS256, ES256) or, when the
// provider signs with HS256, against the client secret; then issuer,
// audience, expiry and nonce.
package idtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config configures a Verifier.
type Config struct {
	// Issuers are the accepted iss values (the configured issuer and, with
	// AUTHENTIK_HOST_BROWSER, its browser-facing twin).
	Issuers []string
	// ClientID is the audience ID tokens must carry.
	ClientID string
	// JWKSURL is the provider's key set.
	JWKSURL string
	// HS256Secret, when not empty, also accepts HS256 tokens signed with it
	// (authentik signs with the client secret when the provider has no
	// signing key).
	HS256Secret string
	// HTTPClient fetches the key set; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks tokens of one provider. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	methods []string

	mu        sync.Mutex
	keys      map[string]any // kid → public key
	anonKeys  []any          // keys without kid
	fetched   time.Time
	fetchErr  error
	fetchWait time.Duration
}

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid token")

// New returns a verifier; keys are fetched on first use.
func New(cfg Config) *Verifier {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	methods := []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
	if cfg.HS256Secret != "" {
		methods = append(methods, "HS256")
	}
	return &Verifier{cfg: cfg, methods: methods, fetchWait: 10 * time.Second}
}

// Options say what else a token must satisfy.
type Options struct {
	// Nonce, when not empty, must equal the token's nonce claim.
	Nonce string
	// Audience checks aud against the client ID.
	Audience bool
}

// Verify checks raw and returns its claims as JSON.
func (v *Verifier) Verify(ctx context.Context, raw string, opts Options) (json.RawMessage, error) {
	claims := jwt.MapClaims{}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30 * time.Second),
		jwt.WithTimeFunc(v.cfg.Now),
	}
	if opts.Audience {
		popts = append(popts, jwt.WithAudience(v.cfg.ClientID))
	}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		return v.key(ctx, t)
	}, popts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	iss, _ := claims["iss"].(string)
	if len(v.cfg.Issuers) > 0 && !slices.Contains(v.cfg.Issuers, iss) {
		return nil, fmt.Errorf("%w: issuer %q not accepted", ErrInvalid, iss)
	}
	if opts.Nonce != "" {
		if n, _ := claims["nonce"].(string); n != opts.Nonce {
			return nil, fmt.Errorf("%w: nonce mismatch", ErrInvalid)
		}
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return b, nil
}

func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if t.Method.Alg() == "HS256" {
		return []byte(v.cfg.HS256Secret), nil
	}
	kid, _ := t.Header["kid"].(string)
	if k := v.lookup(kid, t.Method.Alg()); k != nil {
		return k, nil
	}
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	if k := v.lookup(kid, t.Method.Alg()); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no key %q in the provider's key set", kid)
}

func (v *Verifier) lookup(kid, alg string) any {
	v.mu.Lock()
	defer v.mu.Unlock()
	if kid != "" {
		if k, ok := v.keys[kid]; ok {
			return k
		}
		return nil
	}
	for _, k := range v.anonKeys {
		switch k.(type) {
		case *rsa.PublicKey:
			if alg[:2] == "RS" {
				return k
			}
		case *ecdsa.PublicKey:
			if alg[:2] == "ES" {
				return k
			}
		}
	}
	return nil
}

// refresh fetches the key set, at most once per fetchWait so a flood of
// tokens with unknown kids cannot hammer the core.
func (v *Verifier) refresh(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.fetched.IsZero() && v.cfg.Now().Sub(v.fetched) < v.fetchWait {
		return v.fetchErr
	}
	keys, anon, err := fetchJWKS(ctx, v.cfg.HTTPClient, v.cfg.JWKSURL)
	v.fetched = v.cfg.Now()
	v.fetchErr = err
	if err != nil {
		return err
	}
	v.keys, v.anonKeys = keys, anon
	return nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func fetchJWKS(ctx context.Context, c *http.Client, u string) (map[string]any, []any, error) {
	if u == "" {
		return nil, nil, errors.New("fetch jwks: no jwks_uri")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch jwks: %w", err)
	}
	return ParseJWKS(body)
}

// ParseJWKS decodes a JSON Web Key Set into public keys by kid (and the
// keys that have none). Keys of unknown types or not for signing are
// skipped; a malformed set is an error.
func ParseJWKS(body []byte) (map[string]any, []any, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("parse jwks: %w", err)
	}
	keys := map[string]any{}
	var anon []any
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub any
		switch k.Kty {
		case "RSA":
			n, err1 := b64int(k.N)
			e, err2 := b64int(k.E)
			if err1 != nil || err2 != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || n.BitLen() < 1024 {
				continue
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				continue
			}
			x, err1 := b64int(k.X)
			y, err2 := b64int(k.Y)
			if err1 != nil || err2 != nil {
				continue
			}
			pk, err := ecdsaKey(curve, x, y)
			if err != nil {
				continue
			}
			pub = pk
		default:
			continue
		}
		if k.Kid == "" {
			anon = append(anon, pub)
		} else {
			keys[k.Kid] = pub
		}
	}
	return keys, anon, nil
}

// ecdsaKey builds a public key, refusing points not on the curve.
func ecdsaKey(curve elliptic.Curve, x, y *big.Int) (*ecdsa.PublicKey, error) {
	size := (curve.Params().BitSize + 7) / 8
	if len(x.Bytes()) > size || len(y.Bytes()) > size {
		return nil, errors.New("ec point too large")
	}
	raw := make([]byte, 1+2*size)
	raw[0] = 4
	x.FillBytes(raw[1 : 1+size])
	y.FillBytes(raw[1+size:])
	return ecdsa.ParseUncompressedPublicKey(curve, raw)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}

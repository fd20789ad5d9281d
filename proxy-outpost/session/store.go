package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-go/outposts/authclient/cache"
)

// Default lifetimes.
const (
	DefaultIdleTimeout = 24 * time.Hour
	DefaultMaxLifetime = 7 * 24 * time.Hour
	// LoginTimeout is how long a started login may take.
	LoginTimeout = 10 * time.Minute
)

// Options configures a Store.
type Options struct {
	// IdleTimeout ends a session not used for this long (sliding).
	IdleTimeout time.Duration
	// MaxLifetime ends a session this long after login, however active.
	MaxLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Payloads, when set, holds the session payloads instead of the main
	// cache (a Near in front of the same shared cache, namespaced alike).
	// Logins and indexes always use the main cache.
	Payloads cache.Cache
	// Epochs, when set, serves the revocation epoch reads (a Near in front
	// of the same shared cache, namespaced alike, so that a revocation on
	// any replica invalidates every replica's copy at once). Revocations
	// are written through it.
	Epochs cache.Cache
}

// Store keeps the sessions of one provider.
type Store struct {
	c         cache.Cache
	p         cache.Cache // session payloads
	e         cache.Cache // revocation epochs
	decoded   *decodedCache
	ids       *verifiedIDs
	secret    []byte
	cookieKey []byte
	idle, max time.Duration
	now       func() time.Time
}

// ID names a session: the cookie value and the storage key derived from it.
type ID struct {
	raw    string
	cookie string
	key    string
}

// Cookie is the value to put in the session cookie.
func (id ID) Cookie() string { return id.cookie }

// Key is the storage key of the session: a hash of the ID, safe to log and
// to keep in the cache.
func (id ID) Key() string { return id.key }

// IsZero reports whether id names no session.
func (id ID) IsZero() bool { return id.raw == "" }

const (
	idBytes   = 32
	macBytes  = 16
	idChars   = 43 // base64url of 32 bytes, no padding
	macChars  = 22 // base64url of 16 bytes, no padding
	blobV1    = 1
	kdfSalt   = "goauthentik.io/outpost/proxy/session"
	maxCookie = idChars + 1 + macChars
)

// New returns a store for the sessions of one provider, kept in c (which
// should be namespaced to the provider) and protected with keys derived
// from cookieSecret.
func New(c cache.Cache, cookieSecret string, opts Options) (*Store, error) {
	if cookieSecret == "" {
		return nil, errors.New("session store: empty cookie secret")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxLifetime <= 0 {
		opts.MaxLifetime = DefaultMaxLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ck, err := hkdf.Key(sha256.New, []byte(cookieSecret), []byte(kdfSalt), "cookie", 32)
	if err != nil {
		return nil, fmt.Errorf("session store: derive cookie key: %w", err)
	}
	p := opts.Payloads
	if p == nil {
		p = c
	}
	e := opts.Epochs
	if e == nil {
		e = c
	}
	return &Store{c: c, p: p, e: e, decoded: newDecodedCache(decodedMax), ids: newVerifiedIDs(decodedMax), secret: []byte(cookieSecret), cookieKey: ck, idle: opts.IdleTimeout, max: opts.MaxLifetime, now: opts.Now}, nil
}

// IdleTimeout and MaxLifetime are the configured lifetimes.
func (s *Store) IdleTimeout() time.Duration { return s.idle }

// MaxLifetime is the absolute session lifetime.
func (s *Store) MaxLifetime() time.Duration { return s.max }

// NewID makes a fresh, unguessable session ID.
func (s *Store) NewID() (ID, error) {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		return ID{}, fmt.Errorf("session id: %w", err)
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	return s.makeID(raw), nil
}

func (s *Store) makeID(raw string) ID {
	m := hmac.New(sha256.New, s.cookieKey)
	m.Write([]byte(raw))
	mac := base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:macBytes])
	h := sha256.Sum256([]byte(raw))
	return ID{raw: raw, cookie: raw + "." + mac, key: "s:" + base64.RawURLEncoding.EncodeToString(h[:])}
}

// ParseCookie checks a cookie value and returns the session ID it carries.
// Anything malformed or not signed with this provider's secret is
// ErrInvalid: a bad cookie never counts as a session.
func (s *Store) ParseCookie(v string) (ID, error) {
	if len(v) != maxCookie || v[idChars] != '.' {
		return ID{}, ErrInvalid
	}
	if id, ok := s.ids.get(v); ok {
		return id, nil
	}
	raw, mac := v[:idChars], v[idChars+1:]
	b, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	if err != nil || len(b) != idBytes {
		return ID{}, ErrInvalid
	}
	id := s.makeID(raw)
	if !hmac.Equal([]byte(id.cookie[idChars+1:]), []byte(mac)) {
		return ID{}, ErrInvalid
	}
	s.ids.put(v, id)
	return id, nil
}

func (s *Store) aead(id ID) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, s.secret, []byte(kdfSalt), "session:"+id.raw, 32)
	if err != nil {
		return nil, fmt.Errorf("derive session key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("session cipher: %w", err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session cipher: %w", err)
	}
	return g, nil
}

// Load returns the session id names, checking its lifetimes and the user's
// revocation epoch.
func (s *Store) Load(ctx context.Context, id ID) (*Session, error) {
	if id.IsZero() {
		return nil, ErrNotFound
	}
	// Lent, not copied (a Near's local copy): a copy of a few kilobytes
	// per request was a third of the lookup. open does not change it.
	blob, ok := cache.View(ctx, s.p, id.key)
	if !ok {
		return nil, ErrNotFound
	}
	sess, err := s.open(id, blob)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > s.idle || now.Sub(sess.Created) > s.max {
		s.p.Delete(ctx, id.key)
		return nil, ErrExpired
	}
	if sess.Claims.Sub != "" && s.epochAt(ctx, s.e, sess.epochCacheKey()) != sess.Epoch {
		s.p.Delete(ctx, id.key)
		return nil, ErrRevoked
	}
	return sess, nil
}

func (s *Store) open(id ID, blob []byte) (*Session, error) {
	if sess, ok := s.decoded.get(id.key, blob); ok {
		return sess, nil
	}
	sess, err := s.decrypt(id, blob)
	if err != nil {
		return nil, err
	}
	sess.epochKey = sess.epochCacheKey()
	sess.memo = new(memo)
	s.decoded.put(id.key, blob, sess)
	c := *sess
	return &c, nil
}

func (s *Store) decrypt(id ID, blob []byte) (*Session, error) {
	g, err := s.aead(id)
	if err != nil {
		return nil, err
	}
	if len(blob) < 1+g.NonceSize() || blob[0] != blobV1 {
		return nil, ErrInvalid
	}
	nonce := blob[1 : 1+g.NonceSize()]
	plain, err := g.Open(nil, nonce, blob[1+g.NonceSize():], []byte(id.key))
	if err != nil {
		return nil, ErrInvalid
	}
	var sess Session
	if err := json.Unmarshal(plain, &sess); err != nil {
		return nil, ErrInvalid
	}
	return &sess, nil
}

// Save stores sess under id until its idle or absolute lifetime ends,
// whichever is first.
func (s *Store) Save(ctx context.Context, id ID, sess *Session) error {
	if id.IsZero() {
		return errors.New("save session: no id")
	}
	now := s.now()
	if sess.Created.IsZero() {
		sess.Created = now
	}
	if sess.LastSeen.IsZero() {
		sess.LastSeen = now
	}
	ttl := min(sess.LastSeen.Add(s.idle).Sub(now), sess.Created.Add(s.max).Sub(now))
	if ttl <= 0 {
		s.p.Delete(ctx, id.key)
		return ErrExpired
	}
	plain, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	// What was derived from the previous version no longer holds.
	sess.memo = new(memo)
	g, err := s.aead(id)
	if err != nil {
		return err
	}
	blob := make([]byte, 1+g.NonceSize(), 1+g.NonceSize()+len(plain)+g.Overhead())
	blob[0] = blobV1
	if _, err := rand.Read(blob[1:]); err != nil {
		return fmt.Errorf("session nonce: %w", err)
	}
	blob = g.Seal(blob, blob[1:1+g.NonceSize()], plain, []byte(id.key))
	s.p.Set(ctx, id.key, blob, ttl)
	return nil
}

// Touch slides the idle timeout of a session in use. To spare the cache a
// write per request it writes only when the last write is older than an
// eighth of the idle timeout (at most a minute).
func (s *Store) Touch(ctx context.Context, id ID, sess *Session) error {
	step := min(s.idle/8, time.Minute)
	now := s.now()
	if now.Sub(sess.LastSeen) < step {
		return nil
	}
	sess.LastSeen = now
	return s.Save(ctx, id, sess)
}

// Delete removes one session.
func (s *Store) Delete(ctx context.Context, id ID) {
	if !id.IsZero() {
		s.p.Delete(ctx, id.key)
	}
}

func hashKey(prefix, v string) string {
	h := sha256.Sum256([]byte(v))
	return prefix + base64.RawURLEncoding.EncodeToString(h[:])
}

// Epoch is the user's current revocation epoch; a new session records it.
func (s *Store) Epoch(ctx context.Context, sub string) uint64 {
	return s.epoch(ctx, s.e, sub)
}

func (s *Store) epoch(ctx context.Context, c cache.Cache, sub string) uint64 {
	return s.epochAt(ctx, c, epochKey(sub))
}

// epochKey is the cache key of sub's revocation epoch.
func epochKey(sub string) string { return hashKey("u:", sub) }

// epochCacheKey is the key of the session user's epoch.
func (sess *Session) epochCacheKey() string {
	if sess.epochKey != "" {
		return sess.epochKey
	}
	return epochKey(sess.Claims.Sub)
}

func (s *Store) epochAt(ctx context.Context, c cache.Cache, key string) uint64 {
	b, ok := cache.View(ctx, c, key)
	if !ok || len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// RevokeUser ends every session of the user, on every replica.
func (s *Store) RevokeUser(ctx context.Context, sub string) {
	// Read from the shared cache itself, never a local copy.
	next := s.epoch(ctx, s.c, sub) + 1
	b := binary.BigEndian.AppendUint64(nil, next)
	// The epoch must outlive every session created before it. Written
	// through the epoch cache, which tells every replica to drop its copy.
	s.e.Set(ctx, epochKey(sub), b, s.max+time.Hour)
}

// maxIndexed bounds how many sessions one IdP session indexes; one browser
// has one cookie per provider, so more than a few is unusual.
const maxIndexed = 32

// IndexSID records that the session id belongs to the IdP session sid, so
// that RevokeSID can find it.
func (s *Store) IndexSID(ctx context.Context, sid string, id ID) {
	if sid == "" || id.IsZero() {
		return
	}
	k := hashKey("i:", sid)
	var keys []string
	if b, ok := s.c.Get(ctx, k); ok {
		_ = json.Unmarshal(b, &keys)
	}
	if slices.Contains(keys, id.key) {
		return
	}
	keys = append(keys, id.key)
	if len(keys) > maxIndexed {
		keys = keys[len(keys)-maxIndexed:]
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return
	}
	s.c.Set(ctx, k, b, s.max)
}

// RevokeSID deletes the sessions that belong to the IdP session sid and
// returns how many it found.
func (s *Store) RevokeSID(ctx context.Context, sid string) int {
	if sid == "" {
		return 0
	}
	k := hashKey("i:", sid)
	b, ok := s.c.Get(ctx, k)
	if !ok {
		return 0
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		s.c.Delete(ctx, k)
		return 0
	}
	n := 0
	for _, key := range keys {
		if strings.HasPrefix(key, "s:") {
			s.p.Delete(ctx, key)
			n++
		}
	}
	s.c.Delete(ctx, k)
	return n
}

// PutLogin records a started login under its state value.
func (s *Store) PutLogin(ctx context.Context, state string, l Login) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode login: %w", err)
	}
	s.c.Set(ctx, hashKey("l:", state), b, LoginTimeout)
	return nil
}

// TakeLogin returns the login started with state and forgets it, so a state
// is good for one callback only.
func (s *Store) TakeLogin(ctx context.Context, state string) (Login, bool) {
	if state == "" {
		return Login{}, false
	}
	k := hashKey("l:", state)
	b, ok := s.c.Get(ctx, k)
	if !ok {
		return Login{}, false
	}
	s.c.Delete(ctx, k)
	var l Login
	if err := json.Unmarshal(b, &l); err != nil {
		return Login{}, false
	}
	return l, true
}

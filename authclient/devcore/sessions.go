package devcore

import (
	"container/list"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

const sessionCookie = "authentik_session"

// maxCookieLen bounds the cookie value we try to parse.
const maxCookieLen = 4096

// session is one browser/outpost session, as authentik keeps in its
// session store.
type session struct {
	id string

	// mu serialises the flow steps of one session; the store's lock only
	// guards the index.
	mu       sync.Mutex
	userPK   int32 // authenticated user; 0 = anonymous
	clientIP string
	outpost  string
	plan     *flowPlan

	// guarded by the store's lock
	lastSeen time.Time
	elem     *list.Element
}

// sessionStore keeps sessions in memory, bounded in number and idle time.
type sessionStore struct {
	key  []byte
	idle time.Duration
	max  int
	now  func() time.Time

	mu       sync.Mutex
	byID     map[string]*session
	lru      *list.List // front = most recently used
	ipByUser map[string]string
}

func newSessionStore(key []byte, idle time.Duration, max int, now func() time.Time) *sessionStore {
	return &sessionStore{
		key: key, idle: idle, max: max, now: now,
		byID:     map[string]*session{},
		lru:      list.New(),
		ipByUser: map[string]string{},
	}
}

// sessionClaims are the claims of authentik's JWT session cookie, which the
// outposts read (unverified) to learn the session id.
type sessionClaims struct {
	SID           string `json:"sid"`
	Authenticated bool   `json:"authenticated"`
	jwt.RegisteredClaims
}

// cookieValue signs a cookie for sess.
func (st *sessionStore) cookieValue(sess *session, authenticated bool) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims{
		SID:           sess.id,
		Authenticated: authenticated,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(st.now()),
		},
	})
	v, err := tok.SignedString(st.key)
	if err != nil {
		return "", fmt.Errorf("sign session cookie: %w", err)
	}
	return v, nil
}

// parseCookie verifies a cookie value and returns its session id.
func (st *sessionStore) parseCookie(value string) (string, error) {
	if value == "" || len(value) > maxCookieLen {
		return "", errors.New("session cookie missing or too long")
	}
	var claims sessionClaims
	_, err := jwt.ParseWithClaims(value, &claims, func(*jwt.Token) (any, error) {
		return st.key, nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation())
	if err != nil {
		return "", fmt.Errorf("parse session cookie: %w", err)
	}
	if claims.SID == "" {
		return "", errors.New("session cookie without sid")
	}
	return claims.SID, nil
}

// lookup finds the live session named by the request's cookie.
func (st *sessionStore) lookup(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	sid, err := st.parseCookie(c.Value)
	if err != nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sess, ok := st.byID[sid]
	if !ok {
		return nil
	}
	if st.now().Sub(sess.lastSeen) > st.idle {
		st.removeLocked(sess)
		return nil
	}
	sess.lastSeen = st.now()
	st.lru.MoveToFront(sess.elem)
	return sess
}

// create starts a new session, evicting the least recently used one when
// the store is full.
func (st *sessionStore) create() (*session, error) {
	b, err := randomBytes(16)
	if err != nil {
		return nil, err
	}
	sess := &session{id: hex.EncodeToString(b)}
	st.mu.Lock()
	defer st.mu.Unlock()
	for len(st.byID) >= st.max {
		oldest := st.lru.Back()
		if oldest == nil {
			break
		}
		st.removeLocked(oldest.Value.(*session))
	}
	sess.lastSeen = st.now()
	sess.elem = st.lru.PushFront(sess)
	st.byID[sess.id] = sess
	return sess, nil
}

func (st *sessionStore) removeLocked(sess *session) {
	if sess.elem != nil {
		st.lru.Remove(sess.elem)
		sess.elem = nil
	}
	delete(st.byID, sess.id)
}

// expire drops sessions idle for longer than the limit.
func (st *sessionStore) expire() {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	for e := st.lru.Back(); e != nil; {
		sess := e.Value.(*session)
		prev := e.Prev()
		if now.Sub(sess.lastSeen) <= st.idle {
			break
		}
		st.removeLocked(sess)
		e = prev
	}
}

func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byID)
}

func (st *sessionStore) recordIP(username, ip string) {
	if username == "" || ip == "" {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ipByUser[username] = ip
}

func (st *sessionStore) lastIP(username string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ipByUser[username]
}

// sessionUser is the authenticated, active user of the request's session.
func (s *Server) sessionUser(r *http.Request, v *view) *model.User {
	sess := s.sessions.lookup(r)
	if sess == nil {
		return nil
	}
	sess.mu.Lock()
	pk := sess.userPK
	sess.mu.Unlock()
	if pk == 0 {
		return nil
	}
	u, ok := v.userByPK[pk]
	if !ok || !u.IsActive {
		return nil
	}
	return u
}

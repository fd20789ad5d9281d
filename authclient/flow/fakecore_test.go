package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// Challenge bodies as a real core sends them (core-contract §7.4).
const (
	chIdentification = `{"component":"ak-stage-identification","user_fields":["username","email"],"password_fields":false,"flow_designation":"authentication","primary_action":"Log in","show_source_labels":false,"sources":[]}`
	chPassword       = `{"component":"ak-stage-password","pending_user":"alice","pending_user_avatar":"data:,"}`
	chPasswordError  = `{"component":"ak-stage-password","pending_user":"alice","pending_user_avatar":"data:,","response_errors":{"password":[{"string":"Invalid password","code":"invalid"}]}}`
	chUserLogin      = `{"component":"ak-stage-user-login","pending_user":"alice","pending_user_avatar":"data:,"}`
	chAccessDenied   = `{"component":"ak-stage-access-denied","pending_user":"alice","pending_user_avatar":"data:,","error_message":"Account disabled"}`
	chRedirect       = `{"component":"xak-flow-redirect","to":"/"}`
	chConsent        = `{"component":"ak-stage-consent","pending_user":"alice","pending_user_avatar":"data:,","header_text":"","permissions":[],"additional_permissions":[],"token":"x"}`
)

func chValidate(devices string) string {
	return `{"component":"ak-stage-authenticator-validate","pending_user":"alice","pending_user_avatar":"data:,","device_challenges":[` + devices + `],"configuration_stages":[]}`
}

type recordedReq struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         map[string]any
}

// fakeCore is a scripted core on loopback, for behaviour the stand-in core
// cannot be made to show (unknown stages, endless flows, 5xx, duo).
type fakeCore struct {
	srv    *httptest.Server
	prefix string
	mu     sync.Mutex
	reqs   []recordedReq
	// respond answers request number n (0-based).
	respond func(n int, r recordedReq) (status int, body string)
}

func newFakeCore(t *testing.T, prefix string, respond func(n int, r recordedReq) (int, string)) *fakeCore {
	t.Helper()
	fc := &fakeCore{prefix: prefix, respond: respond}
	fc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordedReq{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_ = json.Unmarshal(b, &rec.Body)
		}
		fc.mu.Lock()
		n := len(fc.reqs)
		fc.reqs = append(fc.reqs, rec)
		fc.mu.Unlock()
		if _, err := r.Cookie(sessionCookie); err != nil {
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: testJWT, Path: "/"})
		}
		status, body := fc.respond(n, rec)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(fc.srv.Close)
	return fc
}

// testJWT is an unsigned-looking HS256 token with {"sid":"sess-1","authenticated":true}.
const testJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWQiOiJzZXNzLTEiLCJhdXRoZW50aWNhdGVkIjp0cnVlfQ.c2lnbmF0dXJl"

func (fc *fakeCore) requests() []recordedReq {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]recordedReq(nil), fc.reqs...)
}

func (fc *fakeCore) host(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(fc.srv.URL + fc.prefix)
	require.NoError(t, err)
	return u
}

func (fc *fakeCore) executor(t *testing.T, opts Options) *Executor {
	t.Helper()
	opts.Host = fc.host(t)
	if opts.Token == "" {
		opts.Token = "outpost-token"
	}
	return NewExecutor(opts)
}

// script answers GETs with the first body and each POST with the next one;
// other paths get 404.
func script(bodies ...string) func(int, recordedReq) (int, string) {
	var mu sync.Mutex
	i := 0
	return func(_ int, r recordedReq) (int, string) {
		if !strings.Contains(r.Path, "/flows/executor/") {
			return http.StatusNotFound, `{"detail":"not found"}`
		}
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodGet {
			i = 0
		}
		if i >= len(bodies) {
			return http.StatusInternalServerError, `{"detail":"script exhausted"}`
		}
		b := bodies[i]
		i++
		return http.StatusOK, b
	}
}

// logBuffer is a concurrency-safe sink for a debug-level logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func debugLogger(t *testing.T) (zerolog.Logger, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	return zerolog.New(lb).Level(zerolog.DebugLevel), lb
}

func authenticate(t *testing.T, e *Executor, r Request) (*Session, error) {
	t.Helper()
	if r.Flow == "" {
		r.Flow = "default-authentication-flow"
	}
	return e.Authenticate(context.Background(), r)
}

package devcore

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// DRF's and authentik's error wordings, kept verbatim so clients that match
// on them behave as against the real core.
const (
	msgNotProvided   = "Authentication credentials were not provided."
	msgTokenInvalid  = "Token invalid/expired"
	msgUnsupported   = "Unsupported authentication type"
	msgMalformed     = "Malformed header"
	msgNotFound      = "Not found."
	msgInvalidPage   = "Invalid page."
	msgNoPermission  = "You do not have permission to perform this action."
	msgInternalError = "Internal server error."
)

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.logRequests)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeDetail(w, http.StatusNotFound, msgNotFound)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeDetail(w, http.StatusMethodNotAllowed, `Method "`+r.Method+`" not allowed.`)
	})

	r.Get("/-/health/live/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Get("/-/health/ready/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	r.Get("/ws/outpost/{pk}/", s.handleWebsocket)
	s.oidcRoutes(r)
	s.racRoutes(r)

	r.Route("/api/v3", func(r chi.Router) {
		r.Get("/root/config/", s.withAuth(s.handleRootConfig))

		r.Get("/outposts/instances/", s.withAuth(s.handleOutpostList))
		r.Get("/outposts/instances/{uuid}/", s.withAuth(s.handleOutpostRetrieve))
		r.Get("/outposts/instances/{uuid}/health/", s.withAuth(s.handleOutpostHealth))
		r.Get("/outposts/ldap/", s.withAuth(s.handleLDAPList))
		r.Get("/outposts/radius/", s.withAuth(s.handleRadiusList))
		r.Get("/outposts/proxy/", s.withAuth(s.handleProxyList))
		r.Get("/outposts/ldap/{id}/check_access/", s.handleLDAPCheckAccess)
		r.Get("/outposts/radius/{id}/check_access/", s.handleRadiusCheckAccess)
		r.Post("/outposts/radius/{id}/check_access/", s.handleRadiusCheckAccess)

		r.Get("/core/users/", s.withAuth(s.handleUserList))
		r.Get("/core/users/me/", s.withAuth(s.handleUserMe))
		r.Get("/core/users/{id}/", s.withAuth(s.handleUserRetrieve))
		r.Get("/core/groups/", s.withAuth(s.handleGroupList))
		r.Get("/core/groups/{uuid}/", s.withAuth(s.handleGroupRetrieve))
		r.Get("/core/applications/{slug}/check_access/", s.withAuth(s.handleAppCheckAccess))

		r.Get("/crypto/certificatekeypairs/{uuid}/", s.withAuth(s.handleCertRetrieve))
		r.Get("/crypto/certificatekeypairs/{uuid}/view_certificate/", s.withAuth(s.handleCertView))
		r.Get("/crypto/certificatekeypairs/{uuid}/view_private_key/", s.withAuth(s.handleKeyView))

		r.Get("/flows/executor/{slug}/", s.handleExecutor)
		r.Post("/flows/executor/{slug}/", s.handleExecutor)
	})
	return r
}

// principal is who a request acts as.
type principal struct {
	outpost *model.Outpost // set for outpost tokens
	user    *model.User    // the token's or session's user, if known
	v       *view
}

// superuser reports whether p sees every object.
func (p principal) superuser() bool {
	return p.outpost == nil && p.user != nil && p.v.isSuperuser(p.user)
}

// canSeeOutpost reports whether p may read outpost o.
func (p principal) canSeeOutpost(o *model.Outpost) bool {
	if p.outpost != nil {
		return p.outpost.PK == o.PK
	}
	return p.superuser()
}

// canSeeProvider reports whether p may read provider pk.
func (p principal) canSeeProvider(pk int32) bool {
	if p.outpost != nil {
		return providerOwned(p.outpost, pk)
	}
	return p.superuser()
}

type authedHandler func(w http.ResponseWriter, r *http.Request, p principal)

// withAuth authenticates by bearer token or, without an Authorization
// header, by an authenticated flow session, as authentik's API does.
func (s *Server) withAuth(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.view.Load()
		p, status, msg := s.authenticate(r, v)
		if status != 0 {
			writeDetail(w, status, msg)
			return
		}
		h(w, r, p)
	}
}

func (s *Server) authenticate(r *http.Request, v *view) (principal, int, string) {
	header := strings.TrimSpace(r.Header.Get("Authorization"))
	if header == "" {
		if u := s.sessionUser(r, v); u != nil {
			return principal{user: u, v: v}, 0, ""
		}
		return principal{}, http.StatusForbidden, msgNotProvided
	}
	kind, cred, ok := strings.Cut(header, " ")
	if !ok {
		return principal{}, http.StatusForbidden, msgNotProvided
	}
	if !strings.EqualFold(kind, "bearer") {
		return principal{}, http.StatusForbidden, msgUnsupported
	}
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return principal{}, http.StatusForbidden, msgMalformed
	}
	if o, ok := v.outpostByToken[cred]; ok {
		return principal{outpost: o, user: v.userByPK[o.ServiceAccount], v: v}, 0, ""
	}
	if u, ok := v.apiTokens[cred]; ok {
		if !u.IsActive {
			return principal{}, http.StatusForbidden, msgTokenInvalid
		}
		return principal{user: u, v: v}, 0, ""
	}
	return principal{}, http.StatusForbidden, msgTokenInvalid
}

// outpostFromHeader resolves X-authentik-outpost-token. present is false
// when the header is absent.
func outpostFromHeader(r *http.Request, v *view) (o *model.Outpost, present bool) {
	tok := strings.TrimSpace(r.Header.Get("X-authentik-outpost-token"))
	if tok == "" {
		return nil, false
	}
	// The outpost copies its Authorization value, "Bearer <token>".
	if kind, cred, ok := strings.Cut(tok, " "); ok && strings.EqualFold(kind, "bearer") {
		tok = strings.TrimSpace(cred)
	}
	return v.outpostByToken[tok], true
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"detail":"` + msgInternalError + `"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// writeFieldErrors writes DRF's validation error shape: field -> messages.
func writeFieldErrors(w http.ResponseWriter, errs map[string][]string) {
	writeJSON(w, http.StatusBadRequest, errs)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

// Hijack lets the websocket upgrader take over the connection.
func (sr *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	sr.status = http.StatusSwitchingProtocols
	return http.NewResponseController(sr.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController and the websocket upgrader reach the
// underlying writer (for Hijack).
func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		idBytes, _ := randomBytes(8)
		id := hex.EncodeToString(idBytes)
		w.Header().Set("X-authentik-id", id)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.log.Debug().
			Str("request_id", id).
			Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", rec.status).
			Dur("duration", time.Since(start)).
			Msg("request")
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if rv := recover(); rv != nil {
				if rv == http.ErrAbortHandler {
					panic(rv)
				}
				s.log.Error().Interface("panic", rv).Str("path", r.URL.Path).Msg("handler panicked")
				writeDetail(w, http.StatusInternalServerError, msgInternalError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// baseURL is the URL clients reach this server at, with a trailing slash.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host + "/"
}

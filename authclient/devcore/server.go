// Package devcore is a stand-in for the authentik 2026.5 core: it serves the
// REST, flow-executor and websocket surface the outposts use, backed by a
// model.Directory loaded from blueprints. Tests and the quickstart use it;
// production uses real authentik.
//
// # OIDC provider
//
// devcore is also the OAuth2/OIDC provider of every proxy provider, at
// authentik's paths: /application/o/<app slug>/.well-known/openid-configuration
// (issuer /application/o/<app slug>/), /application/o/authorize/ (code flow,
// state, nonce, PKCE S256 or plain), /application/o/token/
// (authorization_code, refresh_token, client_credentials with username and
// password), /application/o/userinfo/, /application/o/introspect/,
// /application/o/<app slug>/jwks/ and /application/o/<app slug>/end-session/.
// A browser without a session is sent to /if/flow/<flow slug>/?next=..., a
// plain HTML login page that runs the same flow engine as the executor API.
// Tokens are signed with the provider's signing_key (RS256 or ES256/384/512)
// or HS256 with the client secret; ID and access tokens carry authentik's
// claims, including sid and ak_proxy. Ending a core session sends
// SESSION_END to the connected proxy and RAC outposts. authclient/README.md
// lists the details.
//
// # Remote access (RAC)
//
// devcore is the core side of RAC providers too (rac.go):
// /application/rac/<app>/<endpoint>/ creates a connection token after login,
// /if/rac/<token>/ runs guacamole-common-js (racweb/), and /ws/rac/<token>/
// is relayed to the least-loaded RAC outpost instance through
// /ws/outpost_rac/<channel>/. maximum_connections counts live tunnels.
package devcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// Config configures a Server.
type Config struct {
	// BlueprintsDir holds the user's blueprint yaml files; "" serves the
	// embedded demo blueprint.
	BlueprintsDir string
	// StateDir keeps generated outpost tokens across restarts; "" keeps them
	// in memory only.
	StateDir string
	// Getenv resolves !Env tags in blueprints; nil means os.Getenv.
	Getenv func(string) string
	Logger zerolog.Logger
	// ReloadInterval is how often blueprint mtimes are polled; default 1s.
	ReloadInterval time.Duration
	// Now is the clock (TOTP checks, session expiry); nil means time.Now.
	Now func() time.Time

	// Directory, when set, is served as is and no blueprint is loaded or
	// watched. Meant for tests that build objects by hand.
	Directory *model.Directory
	// SessionIdle is how long an idle flow session lives; default 10m.
	SessionIdle time.Duration
	// MaxSessions caps the number of flow sessions; default 10000.
	MaxSessions int
}

// Instance is one connected outpost instance.
type Instance struct {
	UUID     string
	Hello    map[string]any
	LastSeen time.Time
}

// Server is the stand-in core.
type Server struct {
	cfg Config
	log zerolog.Logger

	view     atomic.Pointer[view]
	tokens   *tokenStore
	sessions *sessionStore
	hub      *hub
	oidc     *oidcState
	rac      *racState // set by racRoutes
	// usedStatic remembers consumed static tokens: the Directory is
	// immutable, so single use is tracked here ("<device pk>/<token>").
	usedMu     sync.Mutex
	usedStatic map[string]bool
	lastTOTP   map[string]int64

	watchMu sync.Mutex
	mtimes  map[string]time.Time

	loadedMu sync.Mutex
	loaded   []string

	handler http.Handler
}

// New loads the blueprints (or cfg.Directory) and prepares a server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 10 * time.Minute
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	tokens, err := newTokenStore(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	key, err := randomBytes(32)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		tokens:     tokens,
		sessions:   newSessionStore(key, cfg.SessionIdle, cfg.MaxSessions, cfg.Now),
		hub:        newHub(),
		oidc:       newOIDCState(),
		usedStatic: map[string]bool{},
		lastTOTP:   map[string]int64{},
	}
	var dir *model.Directory
	if cfg.Directory != nil {
		dir = cfg.Directory
	} else {
		mtimes, err := s.scanMtimes()
		if err != nil {
			return nil, err
		}
		dir, err = s.loadDirectory()
		if err != nil {
			return nil, err
		}
		s.mtimes = mtimes
	}
	v, err := s.buildView(dir)
	if err != nil {
		return nil, err
	}
	s.view.Store(v)
	s.handler = s.routes()
	return s, nil
}

// Handler serves the whole core surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Directory is the directory currently served.
func (s *Server) Directory() *model.Directory { return s.view.Load().dir }

// OutpostToken is the API token of the named outpost.
func (s *Server) OutpostToken(name string) (string, bool) {
	v := s.view.Load()
	o, ok := v.outpostByName[name]
	if !ok {
		return "", false
	}
	return v.tokenOf[o.PK], true
}

// Serve serves on ln until ctx is done, then shuts down gracefully. It also
// watches the blueprint directory for changes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if s.cfg.Directory == nil && s.cfg.BlueprintsDir != "" {
		go s.watch(watchCtx)
	}
	go s.expireSessions(watchCtx)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.hub.closeAll()
		s.rac.closeAll()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	// Hijacked websockets are not tracked by Shutdown: close them first.
	s.hub.closeAll()
	s.rac.closeAll()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

// TriggerUpdate sends TRIGGER_UPDATE to every connected outpost instance.
func (s *Server) TriggerUpdate() {
	s.hub.broadcast(triggerUpdate())
}

// Connected lists the connected instances of the named outpost.
func (s *Server) Connected(outpostName string) []Instance {
	o, ok := s.view.Load().outpostByName[outpostName]
	if !ok {
		return nil
	}
	return s.hub.instances(o.PK)
}

// LastClientIP is the client IP last recorded (X-authentik-remote-ip from a
// valid outpost, else the peer address) for a flow session of username.
func (s *Server) LastClientIP(username string) string {
	return s.sessions.lastIP(username)
}

func (s *Server) expireSessions(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sessions.expire()
		}
	}
}

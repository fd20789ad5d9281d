package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/rac-outpost/guac"
	"github.com/outpost-go/outposts/rac-outpost/guacd"
	"github.com/outpost-go/outposts/rac-outpost/relay"
	"github.com/outpost-go/outposts/rac-outpost/settings"
)

// Guacamole status codes sent to the browser when a connection cannot be
// made (guacamole-common-js Guacamole.Status.Code).
const (
	statusUpstreamNotFound = "519"
	statusServerError      = "512"
)

// server answers the core's init_connection requests: each one becomes a
// session relaying between guacd and the core's /ws/outpost_rac/ channel.
type server struct {
	rt       *outpost.Runtime
	log      zerolog.Logger
	settings settings.Settings
	metrics  *racMetrics

	mu       sync.Mutex
	sessions map[string]*session // by connection id
	wg       sync.WaitGroup
	stopping bool
}

// session is one live connection.
type session struct {
	req    request
	cancel context.CancelFunc
}

func newServer(rt *outpost.Runtime, s settings.Settings) (*server, error) {
	m, err := newRACMetrics(rt.Registry)
	if err != nil {
		return nil, fmt.Errorf("register rac metrics: %w", err)
	}
	srv := &server{
		rt:       rt,
		log:      logging.Named(rt.Logger, "authentik.outpost.rac"),
		settings: s,
		metrics:  m,
		sessions: map[string]*session{},
	}
	rt.SetHelloArgs(func() map[string]any { return map[string]any{"active_connections": srv.active()} })
	rt.AddReadyCheck("guacd", func(ctx context.Context) error {
		err := s.Guacd.Check(ctx)
		srv.metrics.guacdUp(srv.outpostName(), s.Guacd.Address, err == nil)
		return err
	})
	rt.Events.Handle(events.ProviderSpecific, srv.providerSpecific)
	rt.Events.Handle(events.SessionEnd, srv.sessionEnd)
	return srv, nil
}

func (s *server) outpostName() string {
	if o := s.rt.Outpost(); o != nil {
		return o.Name
	}
	return ""
}

// active is the number of live sessions: what HELLO reports as
// active_connections, so the core can pick the least-loaded instance.
func (s *server) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Refresh has nothing to do: RAC has no provider list.
func (s *server) Refresh(context.Context, []outpost.None) error { return nil }

// Run checks guacd's health until ctx ends, then ends every session and
// waits for them within the shutdown timeout.
func (s *server) Run(ctx context.Context) error {
	t := time.NewTicker(s.settings.CheckInterval)
	defer t.Stop()
	s.checkGuacd(ctx)
	for {
		select {
		case <-ctx.Done():
			return s.drain()
		case <-t.C:
			s.checkGuacd(ctx)
		}
	}
}

func (s *server) checkGuacd(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.settings.Guacd.Check(cctx)
	if ctx.Err() != nil {
		return
	}
	was := s.metrics.guacdUp(s.outpostName(), s.settings.Guacd.Address, err == nil)
	switch {
	case err != nil && was:
		s.log.Warn().Err(err).Str("guacd", s.settings.Guacd.Address).Msg("guacd is not reachable")
	case err == nil && !was:
		s.log.Info().Str("guacd", s.settings.Guacd.Address).Msg("guacd is reachable")
	}
}

func (s *server) drain() error {
	s.mu.Lock()
	s.stopping = true
	for _, sess := range s.sessions {
		sess.cancel()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(s.rt.ShutdownTimeout):
		return errors.New("rac sessions did not end in time")
	}
}

// request is a decoded init_connection.
type request struct {
	connID        string
	destChannel   string
	protocol      string
	params        map[string]string
	width, height int
	dpi           int
	sessionID     string
	endpoint      string
}

func (s *server) providerSpecific(ctx context.Context, msg events.Message) {
	subType, _ := msg.Args["sub_type"].(string)
	if subType != "init_connection" {
		s.log.Debug().Str("sub_type", subType).Msg("ignoring provider-specific message")
		return
	}
	req, err := decodeRequest(msg.Args)
	if err != nil {
		s.metrics.sessionResult(s.outpostName(), "bad_request")
		s.log.Warn().Err(err).Msg("ignoring init_connection")
		return
	}
	s.start(ctx, req)
}

// decodeRequest reads init_connection args. conn_id is ours to make when
// the core sends none (authentik's core does not): every connection must
// have its own, or the live count collapses to one.
func decodeRequest(args map[string]any) (request, error) {
	req := request{params: map[string]string{}}
	req.connID, _ = args["conn_id"].(string)
	if req.connID == "" {
		req.connID = uuid.NewString()
	}
	req.destChannel, _ = args["dest_channel_id"].(string)
	if req.destChannel == "" {
		return req, errors.New("init_connection: no dest_channel_id")
	}
	if url.PathEscape(req.destChannel) != req.destChannel {
		// It goes into a URL path; the core's channel names are plain.
		req.destChannel = url.PathEscape(req.destChannel)
	}
	req.protocol, _ = args["protocol"].(string)
	switch req.protocol {
	case "rdp", "vnc", "ssh":
	default:
		return req, fmt.Errorf("init_connection: unsupported protocol %q", req.protocol)
	}
	if p, ok := args["params"].(map[string]any); ok {
		for k, v := range p {
			req.params[k] = stringify(v)
		}
	}
	req.width = number(args["screen_width"])
	req.height = number(args["screen_height"])
	req.dpi = number(args["screen_dpi"])
	req.sessionID, _ = args["session_id"].(string)
	req.endpoint, _ = args["endpoint"].(string)
	if req.endpoint == "" {
		req.endpoint = req.params["hostname"]
	}
	return req, nil
}

// stringify renders a parameter value as authentik does: strings as they
// are, booleans lower-case, numbers without a fraction when whole.
func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func number(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	default:
		return 0
	}
}

// start registers the session at once (it counts from the moment the core
// hands it over) and connects it in the background.
func (s *server) start(ctx context.Context, req request) {
	sctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		cancel()
		return
	}
	if _, dup := s.sessions[req.connID]; dup {
		s.mu.Unlock()
		cancel()
		s.log.Warn().Str("conn_id", req.connID).Msg("ignoring init_connection for a connection id already live")
		return
	}
	s.sessions[req.connID] = &session{req: req, cancel: cancel}
	s.wg.Add(1)
	s.mu.Unlock()
	s.helloNow()
	go func() {
		defer s.wg.Done()
		defer func() {
			cancel()
			s.mu.Lock()
			delete(s.sessions, req.connID)
			s.mu.Unlock()
			s.helloNow()
		}()
		s.serve(sctx, req)
	}()
}

// helloNow tells the core the new count at once instead of at the next
// periodic HELLO, so the next connection goes to the right instance.
func (s *server) helloNow() {
	args := events.HelloArgs(s.rt.Version, s.rt.Config.BuildHash, s.rt.InstanceUUID)
	args["active_connections"] = s.active()
	_ = s.rt.Events.Send(events.Message{Instruction: events.Hello, Args: args})
}

func (s *server) sessionEnd(_ context.Context, msg events.Message) {
	sid, _ := msg.Args["session_id"].(string)
	if sid == "" {
		return
	}
	n := 0
	s.mu.Lock()
	for _, sess := range s.sessions {
		if sess.req.sessionID == sid {
			sess.cancel()
			n++
		}
	}
	s.mu.Unlock()
	if n > 0 {
		s.log.Info().Int("sessions", n).Msg("session ended by the core; closing its connections")
	}
}

// serve runs one session: guacd handshake, the core's channel, the relay.
func (s *server) serve(ctx context.Context, req request) {
	log := s.log.With().Str("conn_id", req.connID).Str("protocol", req.protocol).Str("endpoint", req.endpoint).Logger()
	name := s.outpostName()
	start := time.Now()

	gc, res, gerr := s.connectGuacd(ctx, req)
	ws, err := s.dialCore(ctx, req)
	if err != nil {
		if gc != nil {
			_ = gc.Close()
		}
		s.metrics.sessionResult(name, "core_failed")
		log.Warn().Err(err).Msg("cannot open the core's channel for the connection")
		return
	}
	if gerr != nil {
		// Tell the browser why, instead of leaving it waiting.
		status := statusUpstreamNotFound
		var he *guacd.HandshakeError
		if errors.As(gerr, &he) && he.Status != 0 {
			status = strconv.Itoa(he.Status)
		} else if errors.As(gerr, &he) {
			status = statusServerError
		}
		_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = ws.WriteMessage(websocket.TextMessage, guac.New("error", "Remote desktop gateway unavailable", status).Encode())
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = ws.Close()
		s.metrics.sessionResult(name, "guacd_failed")
		log.Warn().Err(gerr).Str("guacd", s.settings.Guacd.Address).Msg("cannot connect to guacd")
		return
	}

	s.metrics.sessionResult(name, "connected")
	active := s.metrics.active.WithLabelValues(name, req.endpoint, req.protocol)
	active.Inc()
	defer active.Dec()
	log.Info().Str("guacd_connection", res.ConnectionID).Str("version", res.Version).
		Dur("setup", time.Since(start)).Msg("connection started")
	end, err := relay.Run(ctx, ws, gc, res.Reader, relay.Options{
		TunnelID:  req.connID,
		KeepAlive: s.settings.KeepAlive,
		Observer:  s.metrics.observer(name),
	})
	ev := log.Info()
	if err != nil {
		ev = log.Warn().Err(err)
	}
	ev.Str("ended_by", string(end)).Dur("duration", time.Since(start)).Msg("connection ended")
}

func (s *server) connectGuacd(ctx context.Context, req request) (net.Conn, *guacd.Result, error) {
	gc, err := s.settings.Guacd.Dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	tz := req.params["timezone"]
	if tz == "" {
		tz = s.settings.Timezone
	}
	name := req.params["client-name"]
	if name == "" {
		name = s.outpostName()
	}
	res, err := guacd.Handshake(ctx, gc, guacd.Config{
		Protocol:   req.protocol,
		Parameters: req.params,
		Width:      req.width, Height: req.height, DPI: req.dpi,
		Timezone: tz,
		Name:     name,
	})
	if err != nil {
		_ = gc.Close()
		return nil, nil, err
	}
	return gc, res, nil
}

// dialCore opens ws(s)://<host>/ws/outpost_rac/<channel>/. As in
// authentik, the path prefix of AUTHENTIK_HOST is not used.
func (s *server) dialCore(ctx context.Context, req request) (*websocket.Conn, error) {
	host := s.rt.Config.Host
	scheme := "ws"
	if host.Scheme == "https" {
		scheme = "wss"
	}
	u := url.URL{Scheme: scheme, Host: host.Host, Path: "/ws/outpost_rac/" + req.destChannel + "/"}
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 10 * time.Second,
		// Whole relay batches in one write, not 4 KiB pieces.
		WriteBufferSize: 64 << 10,
		ReadBufferSize:  64 << 10,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: s.rt.Config.Insecure}, //nolint:gosec // AUTHENTIK_INSECURE
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+s.rt.Config.Token)
	h.Set("User-Agent", s.rt.Client.UserAgent)
	ws, resp, err := d.DialContext(ctx, u.String(), h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Redacted(), err)
	}
	return ws, nil
}

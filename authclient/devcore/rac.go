package devcore

import (
	"context"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/outpost-go/outposts/authclient/devcore/model"
	"github.com/outpost-go/outposts/authclient/events"
)

// RAC: the core's side of remote access, as authentik's
// authentik/providers/rac does it, with live-session counting:
//
//   - /application/rac/<app>/<endpoint>/ (after login) checks the
//     application's policies and maximum_connections, creates a connection
//     token that expires after the provider's connection_expiry, and
//     redirects to /if/rac/<token>/;
//   - /if/rac/<token>/ is the page running guacamole-common-js (racweb/);
//   - /ws/rac/<token>/ is the browser's tunnel: the core sends
//     init_connection to the least-loaded RAC outpost instance and pairs the
//     browser with the outpost's /ws/outpost_rac/<channel>/ when it dials in;
//     frames are relayed both ways, without a queue, until either side goes,
//     the token expires or the browser's session ends.
//
// maximum_connections counts live browser tunnels, not unexpired tokens, so
// a closed tab frees its slot at once.

//go:embed racweb/rac.html racweb/rac.js racweb/guacamole-common.min.js
var racWeb embed.FS

var racPage = template.Must(template.ParseFS(racWeb, "racweb/rac.html"))

// racPairTimeout is how long a browser tunnel waits for its outpost.
const racPairTimeout = 30 * time.Second

// racSessionCheck is how often a live tunnel checks its core session.
const racSessionCheck = time.Second

// Guacamole status codes (Guacamole.Status.Code) sent to the browser.
const (
	guacUpstreamNotFound = 0x0207 // 519: no outpost
	guacSessionClosed    = 0x0209 // 521: token expired, session ended
	guacTooManyClients   = 0x031D // 797: maximum_connections reached
)

// racToken is authentik's ConnectionToken.
type racToken struct {
	key       string
	provider  *model.RACProvider
	endpoint  *model.RACEndpoint
	userPK    int32
	username  string
	sessionID string
	expires   time.Time
	settings  map[string]any
}

// racTunnel is one live browser tunnel.
type racTunnel struct {
	endpointPK string
	conn       *websocket.Conn // the browser's
}

// racState is the RAC part of the core's state.
type racState struct {
	mu       sync.Mutex
	tokens   map[string]*racToken
	live     map[*racTunnel]bool    // browser tunnels open now
	channels map[string]*racChannel // waiting for their outpost
}

// racChannel is a browser tunnel waiting for its outpost to dial in.
type racChannel struct {
	providerPK int32
	outpost    chan *websocket.Conn
}

func newRACState() *racState {
	return &racState{tokens: map[string]*racToken{}, live: map[*racTunnel]bool{}, channels: map[string]*racChannel{}}
}

// closeAll drops every browser tunnel, as a core going away does; each
// tunnel then closes its outpost channel.
func (st *racState) closeAll() {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for t := range st.live {
		_ = t.conn.Close()
	}
}

func (st *racState) liveFor(endpointPK string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for t := range st.live {
		if t.endpointPK == endpointPK {
			n++
		}
	}
	return n
}

// token returns the unexpired token key, dropping expired ones.
func (st *racState) token(key string, now time.Time) *racToken {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, t := range st.tokens {
		if !now.Before(t.expires) {
			delete(st.tokens, k)
		}
	}
	return st.tokens[key]
}

// racRoutes registers the RAC routes; the state lives as long as the
// router.
func (s *Server) racRoutes(r chi.Router) {
	st := newRACState()
	s.rac = st
	r.Get("/application/rac/{app}/{endpoint}/", func(w http.ResponseWriter, r *http.Request) { s.handleRACStart(w, r, st) })
	r.Get("/if/rac/{token}/", func(w http.ResponseWriter, r *http.Request) { s.handleRACPage(w, r, st) })
	r.Get("/ws/rac/{token}/", func(w http.ResponseWriter, r *http.Request) { s.handleRACClient(w, r, st) })
	r.Get("/ws/outpost_rac/{channel}/", func(w http.ResponseWriter, r *http.Request) { s.handleRACOutpost(w, r, st) })
	web, err := fs.Sub(racWeb, "racweb")
	if err != nil {
		panic(err) // a constant path into the embedded files
	}
	static := http.StripPrefix("/static/rac/", http.FileServerFS(web))
	r.Get("/static/rac/rac.js", static.ServeHTTP)
	r.Get("/static/rac/guacamole-common.min.js", static.ServeHTTP)
}

// racUser is the request's logged-in user; a browser without one is sent
// to the login page and ok is false.
func (s *Server) racUser(w http.ResponseWriter, r *http.Request, v *view, rp *model.RACProvider) (*model.User, *session, bool) {
	sess := s.sessions.lookup(r)
	if sess != nil {
		sess.mu.Lock()
		pk := sess.userPK
		sess.mu.Unlock()
		if u, ok := v.userByPK[pk]; ok && u.IsActive {
			return u, sess, true
		}
	}
	slug := v.flowSlug(rp.AuthenticationFlow)
	if slug == "" {
		slug = "default-authentication-flow"
	}
	http.Redirect(w, r, "/if/flow/"+slug+"/?"+url.Values{"next": {r.URL.Path}}.Encode(), http.StatusFound)
	return nil, nil, false
}

// racEndpoint finds the application's RAC provider and the endpoint, by
// pk as authentik's links have it, or by name.
func (v *view) racEndpoint(appSlug, endpoint string) (*model.Application, *model.RACProvider, *model.RACEndpoint) {
	app, ok := v.appBySlug[appSlug]
	if !ok {
		return nil, nil, nil
	}
	rp, ok := v.racByPK[app.Provider]
	if !ok {
		return nil, nil, nil
	}
	for _, ep := range v.dir.RACEndpoints {
		if ep.Provider == rp.PK && (ep.PK == endpoint || ep.Name == endpoint) {
			return app, rp, ep
		}
	}
	return app, rp, nil
}

func (s *Server) handleRACStart(w http.ResponseWriter, r *http.Request, st *racState) {
	v := s.view.Load()
	app, rp, ep := v.racEndpoint(chi.URLParam(r, "app"), chi.URLParam(r, "endpoint"))
	if ep == nil {
		renderPage(w, http.StatusNotFound, pageData{Title: "Not found", Messages: []string{"No such RAC endpoint."}})
		return
	}
	user, sess, ok := s.racUser(w, r, v, rp)
	if !ok {
		return
	}
	if res := v.checkApplication(app, user); !res.Passing {
		renderPage(w, http.StatusForbidden, pageData{Title: "Permission denied", PendingUser: user.Username,
			Messages: append([]string{"You do not have access to " + app.Name + "."}, res.Messages...)})
		return
	}
	if ep.MaximumConnections > -1 && st.liveFor(ep.PK) >= ep.MaximumConnections {
		renderPage(w, http.StatusForbidden, pageData{Title: "Permission denied", PendingUser: user.Username,
			Messages: []string{"Maximum connection limit reached. (You are already connected in another tab/window)"}})
		return
	}
	expiry, err := parseTimedelta(orDefault(rp.ConnectionExpiry, "hours=8"))
	if err != nil || expiry <= 0 {
		expiry = 8 * time.Hour
	}
	b, err := randomBytes(32)
	if err != nil {
		renderPage(w, http.StatusInternalServerError, pageData{Title: "Error", Messages: []string{msgInternalError}})
		return
	}
	tok := &racToken{
		key: hex.EncodeToString(b), provider: rp, endpoint: ep, userPK: user.PK, username: user.Username,
		sessionID: sess.id, expires: s.cfg.Now().Add(expiry), settings: map[string]any{},
	}
	st.mu.Lock()
	st.tokens[tok.key] = tok
	st.mu.Unlock()
	s.log.Info().Str("app", app.Slug).Str("endpoint", ep.Name).Str("user", user.Username).Msg("rac: connection token created")
	http.Redirect(w, r, "/if/rac/"+tok.key+"/", http.StatusFound)
}

func (s *Server) handleRACPage(w http.ResponseWriter, r *http.Request, st *racState) {
	tok := st.token(chi.URLParam(r, "token"), s.cfg.Now())
	if tok == nil {
		renderPage(w, http.StatusNotFound, pageData{Title: "Not found", Messages: []string{"The connection link is invalid or has expired."}})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = racPage.Execute(w, map[string]string{
		"Title":         tok.endpoint.Name,
		"WebsocketPath": "/ws/rac/" + tok.key + "/",
	})
}

// pickRACInstance is the connected instance, among the outposts serving
// the provider, with the fewest active_connections in its last HELLO.
func (s *Server) pickRACInstance(v *view, providerPK int32) *wsConn {
	serving := map[string]bool{}
	for _, o := range v.dir.Outposts {
		if o.Type == "rac" && providerOwned(o, providerPK) {
			serving[o.PK] = true
		}
	}
	var best *wsConn
	bestLoad := math.Inf(1)
	conns := s.hub.snapshot()
	sort.Slice(conns, func(i, j int) bool { return conns[i].uuid < conns[j].uuid })
	for _, c := range conns {
		if !serving[c.outpostPK] {
			continue
		}
		c.mu.Lock()
		load, _ := c.hello["active_connections"].(float64)
		c.mu.Unlock()
		if load < bestLoad {
			best, bestLoad = c, load
		}
	}
	return best
}

// racClose sends the browser a Guacamole error, then closes its tunnel.
func racClose(ws *websocket.Conn, message string, code int) {
	_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	msg := "5.error," + strconv.Itoa(len([]rune(message))) + "." + message + "," +
		strconv.Itoa(len(strconv.Itoa(code))) + "." + strconv.Itoa(code) + ";"
	_ = ws.WriteMessage(websocket.TextMessage, []byte(msg))
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = ws.Close()
}

func (s *Server) handleRACClient(w http.ResponseWriter, r *http.Request, st *racState) {
	v := s.view.Load()
	tok := st.token(chi.URLParam(r, "token"), s.cfg.Now())
	sess := s.sessions.lookup(r)
	if tok == nil || sess == nil || sess.id != tok.sessionID || !s.racSessionAlive(tok.sessionID) {
		// As authentik: the token must be unexpired and belong to this
		// browser's session.
		writeDetail(w, http.StatusForbidden, msgNoPermission)
		return
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{"guacamole"},
		CheckOrigin:      sameOrigin,
	}
	client, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ep := tok.endpoint
	tunnel := &racTunnel{endpointPK: ep.PK, conn: client}
	st.mu.Lock()
	n := 0
	for t := range st.live {
		if t.endpointPK == ep.PK {
			n++
		}
	}
	if ep.MaximumConnections > -1 && n >= ep.MaximumConnections {
		st.mu.Unlock()
		racClose(client, "Maximum connection limit reached.", guacTooManyClients)
		return
	}
	st.live[tunnel] = true
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.live, tunnel)
		st.mu.Unlock()
	}()

	inst := s.pickRACInstance(v, tok.provider.PK)
	if inst == nil {
		racClose(client, "No outpost is connected for this provider.", guacUpstreamNotFound)
		return
	}
	channel := "rac_" + uuid.NewString()
	ch := &racChannel{providerPK: tok.provider.PK, outpost: make(chan *websocket.Conn, 1)}
	st.mu.Lock()
	st.channels[channel] = ch
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.channels, channel)
		st.mu.Unlock()
		// An outpost that dialled in just as this tunnel gave up.
		select {
		case late := <-ch.outpost:
			_ = late.Close()
		default:
		}
	}()

	q := r.URL.Query()
	args := map[string]any{
		"type":            "event.provider.specific",
		"sub_type":        "init_connection",
		"dest_channel_id": channel,
		"conn_id":         uuid.NewString(),
		"params":          racParams(tok.provider, ep, tok.username, tok.key, tok.settings),
		"protocol":        ep.Protocol,
		"screen_width":    q.Get("screen_width"),
		"screen_height":   q.Get("screen_height"),
		"screen_dpi":      q.Get("screen_dpi"),
		"session_id":      tok.sessionID,
		"endpoint":        ep.Name,
	}
	if err := inst.send(events.Message{Instruction: events.ProviderSpecific, Args: args}); err != nil {
		racClose(client, "The outpost could not be reached.", guacUpstreamNotFound)
		return
	}
	s.log.Info().Str("endpoint", ep.Name).Str("user", tok.username).Str("instance", inst.uuid).Msg("rac: init_connection sent")

	var outpost *websocket.Conn
	select {
	case outpost = <-ch.outpost:
	case <-time.After(racPairTimeout):
		racClose(client, "The outpost did not connect.", guacUpstreamNotFound)
		return
	case <-r.Context().Done():
		_ = client.Close()
		return
	}

	ctx, cancel := context.WithDeadline(context.Background(), tok.expires)
	defer cancel()
	go func() {
		t := time.NewTicker(racSessionCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !s.racSessionAlive(tok.sessionID) {
					cancel()
					return
				}
			}
		}
	}()
	end := racPipe(ctx, client, outpost)
	s.log.Info().Str("endpoint", ep.Name).Str("user", tok.username).Str("ended_by", end).Msg("rac: connection ended")
}

// racSessionAlive reports whether the core session still has its user. A
// live tunnel counts as activity, so an idle remote desktop does not let
// the core session time out under it.
func (s *Server) racSessionAlive(sid string) bool {
	st := s.sessions
	st.mu.Lock()
	sess, ok := st.byID[sid]
	if ok && sess.elem != nil {
		sess.lastSeen = st.now()
		st.lru.MoveToFront(sess.elem)
	}
	st.mu.Unlock()
	if !ok {
		return false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.userPK != 0
}

// racPipe relays frames between the browser and the outpost until one
// side closes or ctx ends (token expiry, session end). A write blocks
// until the other side takes it: nothing is queued or dropped.
func racPipe(ctx context.Context, client, outpost *websocket.Conn) string {
	done := make(chan string, 2)
	copyFrames := func(dst, src *websocket.Conn, name string) {
		for {
			typ, data, err := src.ReadMessage()
			if err != nil {
				done <- name
				return
			}
			if err := dst.WriteMessage(typ, data); err != nil {
				done <- name
				return
			}
		}
	}
	client.SetReadLimit(4 << 20)
	outpost.SetReadLimit(4 << 20)
	go copyFrames(outpost, client, "client")
	go copyFrames(client, outpost, "outpost")
	var end string
	select {
	case end = <-done:
	case <-ctx.Done():
		end = "core"
		// The browser learns why; the outpost sees its channel close.
		_ = client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "session closed"), time.Now().Add(time.Second))
	}
	closeMsg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = client.WriteControl(websocket.CloseMessage, closeMsg, time.Now().Add(time.Second))
	_ = outpost.WriteControl(websocket.CloseMessage, closeMsg, time.Now().Add(time.Second))
	_ = client.Close()
	_ = outpost.Close()
	remaining := 2
	if end != "core" {
		remaining = 1
	}
	for range remaining {
		<-done
	}
	return end
}

func (s *Server) handleRACOutpost(w http.ResponseWriter, r *http.Request, st *racState) {
	v := s.view.Load()
	p, status, msg := s.authenticate(r, v)
	if status != 0 {
		writeDetail(w, status, msg)
		return
	}
	st.mu.Lock()
	ch, ok := st.channels[chi.URLParam(r, "channel")]
	if ok {
		delete(st.channels, chi.URLParam(r, "channel"))
	}
	st.mu.Unlock()
	if !ok || p.outpost == nil || !providerOwned(p.outpost, ch.providerPK) {
		writeDetail(w, http.StatusForbidden, msgNoPermission)
		return
	}
	up := websocket.Upgrader{HandshakeTimeout: 10 * time.Second, CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ch.outpost <- conn
}

// sameOrigin accepts browsers from this core only (and clients that send
// no Origin), unlike wwt/guac's CheckOrigin that accepts every site.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

package devcore

import (
	"encoding/json"
	"maps"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/outpost-go/outposts/authclient/events"
)

// maxFrame bounds one control-channel frame; HELLOs are a few hundred bytes.
const maxFrame = 1 << 20

// wsConn is one connected outpost instance.
type wsConn struct {
	outpostPK string
	uuid      string
	conn      *websocket.Conn

	writeMu sync.Mutex

	mu       sync.Mutex
	hello    map[string]any
	lastSeen time.Time
}

func (c *wsConn) send(msg events.Message) error {
	if msg.Args == nil {
		msg.Args = map[string]any{}
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.conn.WriteJSON(msg)
}

// hub tracks connected outpost instances.
type hub struct {
	mu    sync.Mutex
	conns map[*wsConn]bool
}

func newHub() *hub { return &hub{conns: map[*wsConn]bool{}} }

func (h *hub) add(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[c] = true
}

func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
}

func (h *hub) snapshot() []*wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

func (h *hub) broadcast(msg events.Message) {
	for _, c := range h.snapshot() {
		_ = c.send(msg)
	}
}

func (h *hub) sendTo(outpostPK string, msg events.Message) int {
	n := 0
	for _, c := range h.snapshot() {
		if c.outpostPK == outpostPK && c.send(msg) == nil {
			n++
		}
	}
	return n
}

func (h *hub) instances(outpostPK string) []Instance {
	var out []Instance
	for _, c := range h.snapshot() {
		if c.outpostPK != outpostPK {
			continue
		}
		c.mu.Lock()
		out = append(out, Instance{UUID: c.uuid, Hello: maps.Clone(c.hello), LastSeen: c.lastSeen})
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

func (h *hub) closeAll() {
	for _, c := range h.snapshot() {
		_ = c.conn.Close()
		h.remove(c)
	}
}

func triggerUpdate() events.Message {
	return events.Message{Instruction: events.TriggerUpdate, Args: map[string]any{}}
}

// Send delivers msg to every connected instance of the named outpost and
// returns how many received it.
func (s *Server) Send(outpostName string, msg events.Message) int {
	o, ok := s.view.Load().outpostByName[outpostName]
	if !ok {
		return 0
	}
	return s.hub.sendTo(o.PK, msg)
}

// handleWebsocket serves /ws/outpost/<pk>/: the token must belong to that
// outpost, as authentik's OutpostConsumer requires view_outpost on it.
func (s *Server) handleWebsocket(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	p, status, msg := s.authenticate(r, v)
	if status != 0 {
		writeDetail(w, status, msg)
		return
	}
	pk := chi.URLParam(r, "pk")
	o, ok := v.outpostByPK[pk]
	if !ok || !p.canSeeOutpost(o) {
		writeDetail(w, http.StatusForbidden, msgNoPermission)
		return
	}
	instance := r.URL.Query().Get("instance_uuid")
	if _, err := uuid.Parse(instance); err != nil {
		instance = uuid.NewString()
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Outposts are not browsers; there is no origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	c := &wsConn{outpostPK: o.PK, uuid: instance, conn: conn, lastSeen: s.cfg.Now(), hello: map[string]any{}}
	s.hub.add(c)
	s.log.Info().Str("outpost", o.Name).Str("instance", instance).Msg("outpost connected")
	defer func() {
		s.hub.remove(c)
		_ = conn.Close()
		s.log.Info().Str("outpost", o.Name).Str("instance", instance).Msg("outpost disconnected")
	}()
	conn.SetReadLimit(maxFrame)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var m events.Message
		if err := json.Unmarshal(data, &m); err != nil {
			s.log.Warn().Str("outpost", o.Name).Err(err).Msg("ignoring malformed control message")
			continue
		}
		c.mu.Lock()
		c.lastSeen = s.cfg.Now()
		if m.Instruction == events.Hello {
			c.hello = maps.Clone(m.Args)
			if c.hello == nil {
				c.hello = map[string]any{}
			}
		}
		c.mu.Unlock()
		if m.Instruction == events.Ack {
			continue
		}
		if err := c.send(events.Message{Instruction: events.Ack, Args: map[string]any{}}); err != nil {
			return
		}
	}
}

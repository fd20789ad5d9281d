// Package guacdtest is a guacd stand-in for tests (guacd is not packaged in
// Debian). It speaks the real handshake (select, args with the protocol
// version, size, audio, video, image, timezone, name, connect, ready),
// draws a filled rectangle the size of the screen, answers size changes by
// resizing and redrawing, and sends guacd's keepalives (sync and nop) on a
// timer the test chooses.
package guacdtest

import (
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/rac-outpost/guac"
)

// Options configure a stand-in.
type Options struct {
	// Version is the first args element; "" means VERSION_1_5_0. Set
	// "-" to send no version (a pre-1.1 guacd).
	Version string
	// Args are the parameter names asked for after the version; nil means
	// hostname, port, username, password.
	Args []string
	// Protocols guacd has plugins for; nil means rdp, vnc, ssh. Any other
	// protocol gets guacd's silence (it logs "not installed" and waits).
	Protocols []string
	// Keepalive is how often sync and nop are sent; 0 means 5 s, guacd's
	// own rhythm.
	Keepalive time.Duration
	// Color is the rectangle's colour as r, g, b; zero means 0, 128, 255.
	Color [3]int
	// TLS, when set, serves TLS.
	TLS *tls.Config
}

// Handshake is what a client sent during one handshake.
type Handshake struct {
	Select   string
	Size     []string
	Audio    []string
	Video    []string
	Image    []string
	Timezone string
	Name     string
	// Connect maps each asked arg name to the client's value.
	Connect map[string]string
	ID      string
}

// Server is a running stand-in.
type Server struct {
	// Addr is host:port.
	Addr string

	opts Options
	ln   net.Listener

	mu       sync.Mutex
	conns    map[*conn]bool
	shakes   []Handshake
	received map[string]int
	wg       sync.WaitGroup
}

type conn struct {
	net.Conn
	wmu    sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func (c *conn) send(ins ...guac.Instruction) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, i := range ins {
		if _, err := c.Write(i.Encode()); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.Close()
	})
}

// Start starts a stand-in on a free loopback port; the test's end stops it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Version == "" {
		opts.Version = "VERSION_1_5_0"
	}
	if opts.Args == nil {
		opts.Args = []string{"hostname", "port", "username", "password"}
	}
	if opts.Protocols == nil {
		opts.Protocols = []string{"rdp", "vnc", "ssh"}
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 5 * time.Second
	}
	if opts.Color == [3]int{} {
		opts.Color = [3]int{0, 128, 255}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, ln: ln, conns: map[*conn]bool{}, received: map[string]int{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops listening and drops every connection.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.DropAll()
	s.wg.Wait()
}

// DropAll ends every session from guacd's side: an error, a disconnect,
// then the connection closes, as guacd does when the remote desktop goes.
func (s *Server) DropAll() {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.send(guac.New("error", "Aborted. See logs.", "769"), guac.New("disconnect"))
		c.close()
	}
}

// Active is how many sessions are open.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Handshakes returns the completed handshakes so far.
func (s *Server) Handshakes() []Handshake {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Handshake(nil), s.shakes...)
}

// Received is how many instructions with opcode the clients sent after
// their handshakes.
func (s *Server) Received(opcode string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[opcode]
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{Conn: nc, closed: make(chan struct{})}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.close()
			s.serve(c)
		}()
	}
}

func (s *Server) serve(c *conn) {
	r := guac.NewReader(c)
	hs, ok := s.handshake(c, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.conns[c] = true
	s.shakes = append(s.shakes, hs)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()

	w, h := 1024, 768
	if len(hs.Size) >= 2 {
		w, _ = strconv.Atoi(hs.Size[0])
		h, _ = strconv.Atoi(hs.Size[1])
	}
	if s.draw(c, w, h) != nil {
		return
	}
	go s.keepalive(c)
	for {
		ins, err := r.Read()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.received[ins.Opcode]++
		s.mu.Unlock()
		switch ins.Opcode {
		case "disconnect":
			return
		case "size":
			if len(ins.Args) >= 2 {
				nw, err1 := strconv.Atoi(ins.Args[0])
				nh, err2 := strconv.Atoi(ins.Args[1])
				if err1 == nil && err2 == nil && nw > 0 && nh > 0 {
					if s.draw(c, nw, nh) != nil {
						return
					}
				}
			}
		}
	}
}

// draw sizes the default layer and fills it.
func (s *Server) draw(c *conn, w, h int) error {
	col := s.opts.Color
	return c.send(
		guac.New("size", "0", strconv.Itoa(w), strconv.Itoa(h)),
		guac.New("rect", "0", "0", "0", strconv.Itoa(w), strconv.Itoa(h)),
		guac.New("cfill", "14", "0", strconv.Itoa(col[0]), strconv.Itoa(col[1]), strconv.Itoa(col[2]), "255"),
		syncNow(),
	)
}

func syncNow() guac.Instruction {
	return guac.New("sync", strconv.FormatInt(time.Now().UnixMilli(), 10))
}

func (s *Server) keepalive(c *conn) {
	t := time.NewTicker(s.opts.Keepalive)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			if c.send(syncNow(), guac.New("nop")) != nil {
				return
			}
		}
	}
}

func (s *Server) handshake(c *conn, r *guac.Reader) (Handshake, bool) {
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var hs Handshake
	sel, err := r.Read()
	if err != nil || sel.Opcode != "select" || len(sel.Args) != 1 {
		return hs, false
	}
	hs.Select = sel.Args[0]
	known := false
	for _, p := range s.opts.Protocols {
		known = known || p == hs.Select
	}
	if !known {
		// guacd logs "Support for protocol ... is not installed" and the
		// client hears nothing.
		_, _ = io.Copy(io.Discard, c)
		return hs, false
	}
	names := s.opts.Args
	if s.opts.Version != "-" {
		names = append([]string{s.opts.Version}, s.opts.Args...)
	}
	if c.send(guac.New("args", names...)) != nil {
		return hs, false
	}
	for {
		ins, err := r.Read()
		if err != nil {
			return hs, false
		}
		switch ins.Opcode {
		case "size":
			hs.Size = ins.Args
		case "audio":
			hs.Audio = ins.Args
		case "video":
			hs.Video = ins.Args
		case "image":
			hs.Image = ins.Args
		case "timezone":
			if len(ins.Args) > 0 {
				hs.Timezone = ins.Args[0]
			}
		case "name":
			if len(ins.Args) > 0 {
				hs.Name = ins.Args[0]
			}
		case "connect":
			if len(ins.Args) != len(names) {
				_ = c.send(guac.New("error", "Wrong number of connect arguments", "768"))
				return hs, false
			}
			hs.Connect = map[string]string{}
			for i, n := range names {
				hs.Connect[n] = ins.Args[i]
			}
			hs.ID = "$" + uuid.NewString()
			return hs, c.send(guac.New("ready", hs.ID)) == nil
		default:
			_ = c.send(guac.New("error", "Unexpected "+ins.Opcode+" during handshake", "768"))
			return hs, false
		}
	}
}

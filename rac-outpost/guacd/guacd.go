// Package guacd connects to guacd and runs the Guacamole client handshake:
// select, args, size, audio, video, image, timezone, name, connect, ready.
//
// Unlike github.com/wwt/guac (docs/decisions/0005-rac-guacamole-library.md)
// it answers guacd's protocol version argument, sends timezone and name
// when the negotiated version has them, and bounds every handshake step
// with a deadline, so a guacd without the protocol's plugin is an error
// that says so instead of a hang.
package guacd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-go/outposts/rac-outpost/guac"
)

// Protocol versions, as guacd names them in the first args element.
const (
	Version100 = "VERSION_1_0_0"
	Version110 = "VERSION_1_1_0"
	Version130 = "VERSION_1_3_0"
	Version150 = "VERSION_1_5_0"
)

// ClientVersion is the newest protocol version this outpost and the
// browser client it serves (guacamole-common-js 1.5.0) speak.
const ClientVersion = Version150

// knownVersions in ascending order.
var knownVersions = []string{Version100, Version110, Version130, Version150}

// DefaultHandshakeTimeout bounds the whole handshake.
const DefaultHandshakeTimeout = 15 * time.Second

// Endpoint is where guacd listens.
type Endpoint struct {
	// Address is host:port.
	Address string
	// TLS, when set, wraps the connection (guacd -C/-K).
	TLS *tls.Config
}

// Dial connects to guacd.
func (e Endpoint) Dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	if e.TLS != nil {
		td := &tls.Dialer{NetDialer: d, Config: e.TLS}
		conn, err = td.DialContext(ctx, "tcp", e.Address)
	} else {
		conn, err = d.DialContext(ctx, "tcp", e.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("dial guacd at %s: %w", e.Address, err)
	}
	return conn, nil
}

// Check reports whether guacd answers: a connection (and TLS handshake)
// succeeds. It does not start a session.
func (e Endpoint) Check(ctx context.Context) error {
	conn, err := e.Dial(ctx)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Config is what the handshake sends.
type Config struct {
	// Protocol is rdp, vnc or ssh; or ConnectionID joins a running
	// connection ("$<uuid>").
	Protocol     string
	ConnectionID string
	// Parameters are the connection parameters by name (hostname, port,
	// username, ...), answered to guacd's args.
	Parameters map[string]string
	// Width, Height and DPI are the optimal screen size; zero means
	// 1024x768 at 96 dpi.
	Width, Height, DPI int
	AudioMimetypes     []string
	VideoMimetypes     []string
	ImageMimetypes     []string
	// Timezone is an IANA zone name, sent from protocol 1.1.0 on.
	Timezone string
	// Name is the user's name, sent from protocol 1.5.0 on.
	Name string
	// Timeout bounds the handshake; zero means DefaultHandshakeTimeout.
	Timeout time.Duration
}

// DefaultImageMimetypes are offered when Config leaves them empty: guacd
// negotiates WebP and JPEG only if the client offers them.
var DefaultImageMimetypes = []string{"image/webp", "image/png", "image/jpeg"}

// DefaultAudioMimetypes are what authentik's outpost offers.
var DefaultAudioMimetypes = []string{"audio/L8", "audio/L16"}

// Result is what a completed handshake learnt.
type Result struct {
	// ConnectionID is guacd's id for the connection ("$<uuid>").
	ConnectionID string
	// Version is the negotiated protocol version.
	Version string
	// Reader reads guacd's instructions after ready; it may hold bytes
	// guacd sent right after ready.
	Reader *guac.Reader
}

// HandshakeError is a handshake that guacd refused or did not finish.
type HandshakeError struct {
	Step   string
	Reason string
	// Status is guacd's error status code, or 0.
	Status int
	Err    error
}

func (e *HandshakeError) Error() string {
	msg := "guacd handshake: " + e.Step + ": " + e.Reason
	if e.Status != 0 {
		msg += " (status " + strconv.Itoa(e.Status) + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Negotiate returns the version to answer guacd's: the older of guacd's
// and ClientVersion. An unknown guacd version newer than ours gets ours.
func Negotiate(server string) string {
	idx := -1
	for i, v := range knownVersions {
		if v == server {
			idx = i
		}
	}
	if idx < 0 {
		if strings.HasPrefix(server, "VERSION_") {
			return ClientVersion
		}
		return Version100
	}
	if ours := len(knownVersions) - 1; idx > ours {
		idx = ours
	}
	return knownVersions[idx]
}

func atLeast(v, min string) bool {
	vi, mi := -1, -1
	for i, k := range knownVersions {
		if k == v {
			vi = i
		}
		if k == min {
			mi = i
		}
	}
	return vi >= mi
}

// Handshake runs the client side of the handshake on conn.
func Handshake(ctx context.Context, conn net.Conn, cfg Config) (*Result, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, &HandshakeError{Step: "start", Reason: "set deadline", Err: err}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	send := func(step string, ins guac.Instruction) error {
		if _, err := conn.Write(ins.Encode()); err != nil {
			return &HandshakeError{Step: step, Reason: "write", Err: err}
		}
		return nil
	}
	r := guac.NewReader(conn)

	sel := cfg.ConnectionID
	if sel == "" {
		sel = cfg.Protocol
	}
	if err := send("select", guac.New("select", sel)); err != nil {
		return nil, err
	}
	args, err := expect(r, "args")
	if err != nil {
		return nil, err
	}

	version := Version100
	values := make([]string, len(args.Args))
	for i, name := range args.Args {
		if i == 0 && strings.HasPrefix(name, "VERSION_") {
			version = Negotiate(name)
			values[i] = version
			continue
		}
		values[i] = cfg.Parameters[name]
	}

	w, h, dpi := cfg.Width, cfg.Height, cfg.DPI
	if w <= 0 || h <= 0 {
		w, h = 1024, 768
	}
	if dpi <= 0 {
		dpi = 96
	}
	audio, video, image := cfg.AudioMimetypes, cfg.VideoMimetypes, cfg.ImageMimetypes
	if audio == nil {
		audio = DefaultAudioMimetypes
	}
	if image == nil {
		image = DefaultImageMimetypes
	}
	steps := []guac.Instruction{
		guac.New("size", strconv.Itoa(w), strconv.Itoa(h), strconv.Itoa(dpi)),
		guac.New("audio", audio...),
		guac.New("video", video...),
		guac.New("image", image...),
	}
	if atLeast(version, Version110) && cfg.Timezone != "" {
		steps = append(steps, guac.New("timezone", cfg.Timezone))
	}
	if atLeast(version, Version150) && cfg.Name != "" {
		steps = append(steps, guac.New("name", cfg.Name))
	}
	steps = append(steps, guac.New("connect", values...))
	for _, ins := range steps {
		if err := send(ins.Opcode, ins); err != nil {
			return nil, err
		}
	}
	ready, err := expect(r, "ready")
	if err != nil {
		return nil, err
	}
	if len(ready.Args) == 0 || ready.Args[0] == "" {
		return nil, &HandshakeError{Step: "ready", Reason: "guacd sent no connection id"}
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, &HandshakeError{Step: "ready", Reason: "clear deadline", Err: err}
	}
	return &Result{ConnectionID: ready.Args[0], Version: version, Reader: r}, nil
}

// expect reads the next instruction and checks its opcode; guacd's error
// instruction becomes a HandshakeError with its message and status.
func expect(r *guac.Reader, opcode string) (guac.Instruction, error) {
	ins, err := r.Read()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// guacd stays silent when the protocol's plugin is missing.
			return guac.Instruction{}, &HandshakeError{Step: opcode, Reason: "guacd did not answer in time (is the protocol's plugin installed?)", Err: err}
		}
		return guac.Instruction{}, &HandshakeError{Step: opcode, Reason: "read", Err: err}
	}
	if ins.Opcode == "error" {
		he := &HandshakeError{Step: opcode, Reason: "guacd refused"}
		if len(ins.Args) > 0 {
			he.Reason = "guacd refused: " + ins.Args[0]
		}
		if len(ins.Args) > 1 {
			he.Status, _ = strconv.Atoi(ins.Args[1])
		}
		return guac.Instruction{}, he
	}
	if ins.Opcode != opcode {
		return guac.Instruction{}, &HandshakeError{Step: opcode, Reason: fmt.Sprintf("expected %q, got %q", opcode, ins.Opcode)}
	}
	return ins, nil
}

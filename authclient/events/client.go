package events

import (
	"context"
	"crypto/fips140"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/backoff"
)

// Handler handles one message from the core. ctx is the context given to
// Run: it is cancelled when the client stops, not when one connection drops.
type Handler func(ctx context.Context, msg Message)

// ClientOptions configures a control-channel Client.
type ClientOptions struct {
	// Host is AUTHENTIK_HOST. Its path is the prefix of ws/outpost/<pk>/
	// and its query string is kept.
	Host *url.URL
	// Token is the outpost token, sent as a Bearer header on the upgrade.
	Token string
	// UserAgent is sent on the upgrade.
	UserAgent string
	// Insecure skips TLS verification (AUTHENTIK_INSECURE).
	Insecure bool
	// OutpostPK is the outpost's pk (a uuid).
	OutpostPK string
	// InstanceUUID identifies this process to the core (instance_uuid).
	InstanceUUID string
	// Hello returns the HELLO args; it is called for every HELLO so values
	// that change (active connections of a RAC outpost) stay current. nil
	// sends HelloArgs("", "", InstanceUUID).
	Hello func() map[string]any
	// HelloInterval is how often HELLO is sent; 0 means 10 s, the interval
	// the core expects (it marks an instance unhealthy after 15 s).
	HelloInterval time.Duration
	// Backoff paces reconnects; the zero value means backoff.Default()
	// (1 s base, 5 min cap, as authentik's outposts reconnect).
	Backoff backoff.Policy
	// OnConnection is told when the channel comes up and when it drops.
	OnConnection func(up bool)
	// Logger receives connection state changes.
	Logger zerolog.Logger
}

// DefaultHelloInterval is authentik's OUTPOST_HELLO_INTERVAL.
const DefaultHelloInterval = 10 * time.Second

// handshakeTimeout is the websocket dialer timeout authentik's outposts use.
const handshakeTimeout = 10 * time.Second

// writeTimeout bounds every write, so a dead peer cannot block the writer.
const writeTimeout = 10 * time.Second

// HelloArgs returns every HELLO arg the core records for an instance.
// This build never uses OpenSSL, so opensslEnabled is false.
func HelloArgs(version, buildHash, instanceUUID string) map[string]any {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = ""
	}
	return map[string]any{
		"version":        version,
		"buildHash":      buildHash,
		"uuid":           instanceUUID,
		"golangVersion":  runtime.Version(),
		"opensslEnabled": false,
		"opensslVersion": "",
		"fipsEnabled":    fips140.Enabled(),
		"hostname":       hostname,
	}
}

// Client keeps the control channel to the core open: it dials, sends HELLO
// at once and every HelloInterval, dispatches the core's messages to the
// registered handlers, and reconnects with backoff when the channel drops.
type Client struct {
	opts ClientOptions

	mu       sync.RWMutex
	handlers map[Instruction][]Handler

	connMu sync.Mutex
	conn   *connection // nil while disconnected
}

// NewClient returns a Client; nothing is dialled until Run.
func NewClient(opts ClientOptions) *Client {
	if opts.HelloInterval <= 0 {
		opts.HelloInterval = DefaultHelloInterval
	}
	if opts.Backoff.Base <= 0 && opts.Backoff.Max <= 0 {
		rnd := opts.Backoff.Rand
		opts.Backoff = backoff.Default()
		opts.Backoff.Rand = rnd
	}
	if opts.Hello == nil {
		uuid := opts.InstanceUUID
		opts.Hello = func() map[string]any { return HelloArgs("", "", uuid) }
	}
	if opts.OnConnection == nil {
		opts.OnConnection = func(bool) {}
	}
	return &Client{opts: opts, handlers: map[Instruction][]Handler{}}
}

// Handle registers h for messages with instruction instr. Several handlers
// may be registered for one instruction; each message is handed to all of
// them, in registration order, in a goroutine of its own so a slow handler
// (the reload offset before a refresh) never stalls the channel. ACK and
// HELLO are never dispatched.
func (c *Client) Handle(instr Instruction, h Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[instr] = append(c.handlers[instr], h)
}

// Connected reports whether the channel is up right now.
func (c *Client) Connected() bool {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.conn != nil
}

// ErrNotConnected is returned by Send while the channel is down.
var ErrNotConnected = errors.New("control channel is not connected")

// Send writes msg on the current connection.
func (c *Client) Send(msg Message) error {
	c.connMu.Lock()
	conn := c.conn
	c.connMu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	return conn.write(msg)
}

// URL is the control-channel URL for the given reconnect attempt (0 for the
// first connection, which carries no attempt parameter).
func (c *Client) URL(attempt int) (*url.URL, error) {
	return channelURL(c.opts.Host, c.opts.OutpostPK, c.opts.InstanceUUID, attempt)
}

func channelURL(host *url.URL, pk, instance string, attempt int) (*url.URL, error) {
	if host == nil {
		return nil, errors.New("control channel: no host")
	}
	u := *host
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("control channel: host scheme %q is not http or https", host.Scheme)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.Path += "ws/outpost/" + pk + "/"
	u.RawPath = ""
	q := u.Query()
	q.Set("instance_uuid", instance)
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return &u, nil
}

// Run keeps the channel open until ctx is done, then closes it with a
// normal-closure frame and waits for running handlers. It returns nil after
// ctx is done and an error only for a configuration that can never
// connect (a bad host URL).
func (c *Client) Run(ctx context.Context) error {
	if _, err := c.URL(0); err != nil {
		return err
	}
	log := c.opts.Logger
	var handlers sync.WaitGroup
	defer handlers.Wait()

	attempt := 0 // reconnects so far, sent as attempt=N
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		conn, err := c.dial(ctx, attempt)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			delay := c.opts.Backoff.Delay(failures)
			failures++
			attempt++
			log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).
				Msg("failed to connect control channel, retrying")
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		log.Info().Int("attempt", attempt).Msg("control channel connected")
		connectedAt := time.Now()

		err = c.serve(ctx, conn, &handlers)
		if ctx.Err() != nil {
			return nil
		}
		// A core that accepts and then drops the channel at once (the core
		// denies a websocket by closing it after the upgrade) must not be
		// redialled every second forever: only a connection that lived
		// through a HELLO interval resets the backoff.
		if time.Since(connectedAt) >= c.opts.HelloInterval {
			failures = 0
		}
		attempt++
		delay := c.opts.Backoff.Delay(failures)
		failures++
		log.Warn().Err(err).Dur("retry_in", delay).Msg("control channel lost, reconnecting")
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Client) dial(ctx context.Context, attempt int) (*websocket.Conn, error) {
	u, err := c.URL(attempt)
	if err != nil {
		return nil, err
	}
	dialer := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: handshakeTimeout,
	}
	if c.opts.Insecure {
		// Opt-in via AUTHENTIK_INSECURE, as for the REST client.
		dialer.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in
	}
	header := http.Header{}
	header.Set("Authorization", "Bearer "+c.opts.Token)
	if c.opts.UserAgent != "" {
		header.Set("User-Agent", c.opts.UserAgent)
	}
	ws, resp, err := dialer.DialContext(ctx, u.String(), header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s://%s%s: handshake status %d: %w", u.Scheme, u.Host, u.Path, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial %s://%s%s: %w", u.Scheme, u.Host, u.Path, err)
	}
	return ws, nil
}

// connection is one open websocket; gorilla allows one writer at a time.
type connection struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
}

func (cn *connection) write(msg Message) error {
	if msg.Args == nil {
		msg.Args = map[string]any{}
	}
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	if err := cn.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("write %d: %w", msg.Instruction, err)
	}
	if err := cn.ws.WriteJSON(msg); err != nil {
		return fmt.Errorf("write %d: %w", msg.Instruction, err)
	}
	return nil
}

func (cn *connection) close() {
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	_ = cn.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	_ = cn.ws.Close()
}

func (c *Client) hello() Message {
	return Message{Instruction: Hello, Args: c.opts.Hello()}
}

// serve runs one connection until it fails or ctx is done.
func (c *Client) serve(ctx context.Context, ws *websocket.Conn, handlers *sync.WaitGroup) error {
	cn := &connection{ws: ws}
	// A core that neither sends nor answers pings for three HELLO intervals
	// is gone even if TCP has not noticed yet.
	idle := 3 * c.opts.HelloInterval
	_ = ws.SetReadDeadline(time.Now().Add(idle))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(idle)) })

	if err := cn.write(c.hello()); err != nil {
		_ = ws.Close()
		return fmt.Errorf("send hello: %w", err)
	}
	c.connMu.Lock()
	c.conn = cn
	c.connMu.Unlock()
	c.opts.OnConnection(true)
	defer func() {
		c.connMu.Lock()
		c.conn = nil
		c.connMu.Unlock()
		c.opts.OnConnection(false)
	}()

	readErr := make(chan error, 1)
	go func() {
		readErr <- c.read(ctx, ws, idle, handlers)
	}()

	ticker := time.NewTicker(c.opts.HelloInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			cn.close()
			<-readErr
			return ctx.Err()
		case err := <-readErr:
			_ = ws.Close()
			return err
		case <-ticker.C:
			err := cn.write(c.hello())
			if err == nil {
				cn.writeMu.Lock()
				err = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
				cn.writeMu.Unlock()
			}
			if err != nil {
				_ = ws.Close()
				<-readErr
				return fmt.Errorf("send hello: %w", err)
			}
		}
	}
}

// read reads messages until the connection fails.
func (c *Client) read(ctx context.Context, ws *websocket.Conn, idle time.Duration, handlers *sync.WaitGroup) error {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(idle))
		msg, err := DecodeMessage(data)
		if err != nil {
			// One bad frame is the core's bug, not a reason to drop the
			// channel.
			c.opts.Logger.Warn().Err(err).Int("bytes", len(data)).Msg("ignoring undecodable control message")
			continue
		}
		c.dispatch(ctx, msg, handlers)
	}
}

// DecodeMessage decodes one control-channel frame. Args is never nil in a
// decoded message.
func DecodeMessage(data []byte) (Message, error) {
	var msg Message
	if err := json.Unmarshal(data, &msg); err != nil {
		return Message{}, fmt.Errorf("decode control message: %w", err)
	}
	if msg.Args == nil {
		msg.Args = map[string]any{}
	}
	return msg, nil
}

func (c *Client) dispatch(ctx context.Context, msg Message, wg *sync.WaitGroup) {
	if msg.Instruction == Ack || msg.Instruction == Hello {
		return
	}
	c.mu.RLock()
	hs := append([]Handler(nil), c.handlers[msg.Instruction]...)
	c.mu.RUnlock()
	if len(hs) == 0 {
		c.opts.Logger.Debug().Int("instruction", int(msg.Instruction)).Msg("no handler for control message")
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, h := range hs {
			h(ctx, msg)
		}
	}()
}

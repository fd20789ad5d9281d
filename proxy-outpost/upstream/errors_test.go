package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// TestConnectionRefused: nothing listens upstream: an error, 502.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p := newProxy(t, &url.URL{Scheme: "http", Host: addr}, Options{DialTimeout: 2 * time.Second}, nil)
	resp, body := get(t, newClient(t), p.URL)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	err = p.result(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
	assert.Contains(t, body, "bad gateway")
}

// TestNoResponse: an upstream that closes without answering, or answers
// garbage: an error, 502.
func TestNoResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		response string
	}{
		{"closes without a byte", ""},
		{"garbage", "SSH-2.0-OpenSSH_9.6\r\n"},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"bad status line", "HTTP/1.1 abc\r\n\r\n"},
		{"too many informational responses", repeat("HTTP/1.1 100 Continue\r\n\r\n", 9) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := cannedServer(t, tt.response)
			p := newProxy(t, up.URL(), Options{}, nil)
			resp, _ := get(t, newClient(t), p.URL)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			require.Error(t, p.result(t))
			assert.Equal(t, 0, p.idleCount())
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// TestUpstreamClosesMidBody: the client sees an aborted response, never a
// clean complete one.
func TestUpstreamClosesMidBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		response string
	}{
		{"Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it"},
		{"Content-Length, large", "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + repeat("0123456789", 10000)},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
		{"chunked mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := cannedServer(t, tt.response)
			p := newProxy(t, up.URL(), Options{}, nil)
			resp, err := newClient(t).Get(p.URL)
			if err == nil { // the head may have made it
				_, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
			require.Error(t, err, "the client saw a complete response")
			assert.False(t, isTimeout(err), "the client hung: %v", err)
			assert.Eventually(t, func() bool { return p.aborts.Load() == 1 }, ioTimeout, 5*time.Millisecond,
				"the handler aborted with http.ErrAbortHandler")
			assert.Equal(t, 0, p.idleCount())
		})
	}
}

// TestCancelWhileUpstreamStalls: Forward returns promptly with an error
// once the request's context ends, whether the upstream stalls before the
// response head or the client goes away.
func TestCancelWhileUpstreamStalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		response string // what the upstream sends before it stalls
		body     bool
	}{
		{"nothing sent", "", false},
		{"half a head", "HTTP/1.1 200 OK\r\nX-A: ", false},
		{"nothing sent, with a body", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRawRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, tt.response)
				_ = stall(c, br, release)
			})
			target := up.URL()
			tr := New(Options{})
			t.Cleanup(tr.CloseIdleConnections)
			results := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
				defer cancel()
				results <- tr.Forward(w, &Request{In: r.WithContext(ctx), URL: target})
				w.WriteHeader(http.StatusGatewayTimeout)
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) }) // before srv.Close, which waits for the handler
			var body io.Reader
			if tt.body {
				body = repeatReader("body", 100)
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL, body)
			require.NoError(t, err)
			replies := sendAsync(patientClient(t), req)
			// The upstream never gives up and the client stays: only the
			// context's end can make Forward return.
			err = await(t, results, "Forward did not return after its context ended: it still waits for the stalled upstream")
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			rp := await(t, replies, "the client got no response")
			require.NoError(t, rp.err)
			assert.Equal(t, http.StatusGatewayTimeout, rp.resp.StatusCode)
		})
	}
}

func repeatReader(s string, n int) io.Reader {
	return io.MultiReader(func() []io.Reader {
		rs := make([]io.Reader, n)
		for i := range rs {
			rs[i] = stringsReader(s)
		}
		return rs
	}()...)
}

// TestClientGoneWhileUpstreamStalls: the client hangs up while the
// upstream has not answered: Forward returns.
func TestClientGoneWhileUpstreamStalls(t *testing.T) {
	t.Parallel()
	got := make(chan struct{}, 1)
	stalled := make(chan error, 1) // how the upstream's stall ended
	release := make(chan struct{})
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		got <- struct{}{}
		stalled <- stall(c, br, release)
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	t.Cleanup(func() { close(release) }) // before the proxy's cleanup waits for its handler
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	require.NoError(t, err)
	replies := sendAsync(patientClient(t), req)
	await(t, got, "the upstream got no request")
	cancel()
	assert.ErrorIs(t, await(t, replies, "the cancelled request did not end").err, context.Canceled)
	// The upstream never gives up: only the client's going away can make
	// Forward return.
	err = await(t, p.results, "Forward did not return after the client went away: it still waits for the stalled upstream")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	await(t, stalled, "the proxy did not close its connection to the stalled upstream")
	assert.Equal(t, 0, p.idleCount())
}

// TestHTTPSUpstream: https upstreams are verified unless the TLS config
// says otherwise.
func TestHTTPSUpstream(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Tls", tls.VersionName(r.TLS.Version))
		_, _ = io.WriteString(w, "secure "+r.Host)
	}))
	t.Cleanup(up.Close)
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	target := mustURL(t, up.URL)
	tests := []struct {
		name    string
		tls     *tls.Config
		wantErr string
	}{
		{"default config verifies", nil, "certificate"},
		{"verification on", &tls.Config{MinVersion: tls.VersionTLS12}, "certificate"},
		{"InsecureSkipVerify", &tls.Config{InsecureSkipVerify: true}, ""}, //nolint:gosec // the test's own server
		{"trusted root", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ""},
		{"wrong server name", &tls.Config{RootCAs: pool, ServerName: "not-example.com"}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, target, Options{TLSConfig: tt.tls}, nil)
			c := newClient(t)
			for range 2 {
				resp, body := get(t, c, p.URL)
				err := p.result(t)
				if tt.wantErr != "" {
					assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
					require.Error(t, err)
					assert.Contains(t, err.Error(), tt.wantErr)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "secure "+target.Host, body)
				assert.Equal(t, "HTTP/1.1", resp.Header.Get("X-Proto"), "HTTP/2 is never negotiated")
			}
			if tt.wantErr == "" {
				assert.Equal(t, 1, p.idleCount(), "TLS connections are pooled too")
			}
		})
	}
	// The caller's config is not modified.
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's own server
	p := newProxy(t, target, Options{TLSConfig: cfg}, nil)
	get(t, newClient(t), p.URL)
	require.NoError(t, p.result(t))
	assert.Empty(t, cfg.ServerName)
	assert.Empty(t, cfg.NextProtos)
}

// TestDialTimeout: a TLS upstream that never completes the handshake.
func TestDialTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		_ = stall(c, br, release) // no handshake
	})
	target := up.URL()
	target.Scheme = "https"
	p := newProxy(t, target, Options{DialTimeout: 100 * time.Millisecond}, nil)
	t.Cleanup(func() { close(release) }) // before the proxy's cleanup waits for its handler
	req, err := http.NewRequest(http.MethodGet, p.URL, nil)
	require.NoError(t, err)
	replies := sendAsync(patientClient(t), req)
	// The upstream never gives up and the client stays: only DialTimeout
	// can end the handshake.
	err = await(t, p.results, "Forward did not return: DialTimeout did not end the handshake")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || isTimeout(err), "%v", err)
	rp := await(t, replies, "the client got no response")
	require.NoError(t, rp.err)
	assert.Equal(t, http.StatusBadGateway, rp.resp.StatusCode)
}

// stall holds the upstream's side of c: it reads and discards until the
// proxy closes the connection or release is closed. It never gives up
// on its own (c's deadline is cleared), so only the proxy's deadline or
// context can end the exchange. It returns what ended the read.
func stall(c net.Conn, br *bufio.Reader, release <-chan struct{}) error {
	_ = c.SetDeadline(time.Time{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-release:
			_ = c.Close()
		case <-done:
		}
	}()
	_, err := io.Copy(io.Discard, br)
	return err
}

// patientClient is newClient without a timeout of its own: the tests
// using it wait with their own guard, and a client giving up would end
// the very wait they check.
func patientClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// reply is what a client got: a response, its body read and closed, or
// an error.
type reply struct {
	resp *http.Response
	err  error
}

// sendAsync does req with c in the background.
func sendAsync(c *http.Client, req *http.Request) <-chan reply {
	replies := make(chan reply, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		replies <- reply{resp, err}
	}()
	return replies
}

// await receives from ch. Its guard only detects a hang: it is no
// assertion about speed, and when it fires the test fails with msg.
func await[T any](t testing.TB, ch <-chan T, msg string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(outposttest.Wait):
		t.Fatal(msg)
		var zero T
		return zero
	}
}

package upstream

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzForwardResponse: whatever bytes the upstream answers with (then
// closing), Forward neither panics (but for http.ErrAbortHandler, which
// net/http recovers) nor hangs, for an ordinary request and for an
// upgrade request. Seeds are in testdata/fuzz/FuzzForwardResponse.
func FuzzForwardResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))

	// The upstream answers each request with the input its X-Fuzz-Id
	// names, then closes the connection.
	var (
		inputs sync.Map // id -> []byte
		nextID atomic.Int64
	)
	up := newRawServer(f, func(c net.Conn, br *bufio.Reader) {
		cp, err := readRawRequest(br)
		if err != nil {
			return
		}
		in, ok := inputs.Load(cp.req.Header.Get("X-Fuzz-Id"))
		if !ok {
			return
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Write(in.([]byte))
	})
	target := up.URL()

	tr := New(Options{DialTimeout: 2 * time.Second})
	f.Cleanup(tr.CloseIdleConnections)
	var (
		mu     sync.Mutex
		panics []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
					mu.Lock()
					panics = append(panics, fmt.Sprint(v))
					mu.Unlock()
				}
				panic(http.ErrAbortHandler)
			}
		}()
		u := *target
		u.Path = r.URL.Path
		if err := tr.Forward(w, &Request{In: r, URL: &u, ResponseHeader: http.Header{"X-Proxy": {"1"}}}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	f.Cleanup(srv.Close)
	ct := &http.Transport{DisableCompression: true}
	f.Cleanup(ct.CloseIdleConnections)
	client := &http.Client{Timeout: 5 * time.Second, Transport: ct}

	f.Fuzz(func(t *testing.T, response []byte) {
		id := strconv.FormatInt(nextID.Add(1), 10)
		inputs.Store(id, response)
		defer inputs.Delete(id)
		for _, upgrade := range []bool{false, true} {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/fuzz", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Fuzz-Id", id)
			req.Header.Set("Te", "trailers")
			if upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
			}
			resp, err := client.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
			}
			if err != nil && isTimeout(err) {
				t.Fatalf("upgrade=%v: the client timed out (a hang?): %v", upgrade, err)
			}
			mu.Lock()
			p := panics
			panics = nil
			mu.Unlock()
			if len(p) > 0 {
				t.Fatalf("upgrade=%v: Forward panicked: %v", upgrade, p)
			}
		}
	})
}

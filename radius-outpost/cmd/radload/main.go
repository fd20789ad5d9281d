// Command radload is the load client of scripts/bench radius: it sends PAP
// Access-Requests (signed with a Message-Authenticator) from a number of
// concurrent clients, each waiting for its reply before sending the next,
// and prints one line of results.
//
//	radload -server 127.0.0.1:1812 -secret s -users users.txt -c 32 -duration 10s
//	radload -server ... -once        # every user once (e.g. to time uncached logins)
//	radload -http URL -token T -c 32 -duration 5s   # core round trip: GET URL
//
// The users file has one "username password" per line. The output line is
//
//	requests=N accepts=N rejects=N timeouts=N seconds=S rps=R p50_ms=X p99_ms=Y
package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RADIUS
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

type user struct{ name, password string }

type result struct {
	latencies                  []time.Duration
	accepts, rejects, timeouts int
	requests                   int
	wall                       time.Duration
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "radload:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("radload", flag.ContinueOnError)
	server := fs.String("server", "127.0.0.1:1812", "RADIUS server host:port")
	secret := fs.String("secret", "", "shared secret")
	usersFile := fs.String("users", "", `file of "username password" lines`)
	conc := fs.Int("c", 16, "concurrent clients")
	dur := fs.Duration("duration", 10*time.Second, "how long to send")
	once := fs.Bool("once", false, "send each user once instead of for -duration")
	timeout := fs.Duration("timeout", 5*time.Second, "reply timeout")
	httpURL := fs.String("http", "", "instead of RADIUS: GET this URL (core round trip)")
	token := fs.String("token", "", "bearer token for -http")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conc < 1 {
		return errors.New("-c must be at least 1")
	}
	var res result
	var err error
	if *httpURL != "" {
		res, err = loadHTTP(*httpURL, *token, *conc, *dur)
	} else {
		if *secret == "" || *usersFile == "" {
			return errors.New("-secret and -users are required")
		}
		var users []user
		users, err = readUsers(*usersFile)
		if err != nil {
			return err
		}
		res, err = loadRADIUS(*server, []byte(*secret), users, *conc, *dur, *once, *timeout)
	}
	if err != nil {
		return err
	}
	report(out, res)
	return nil
}

func readUsers(path string) ([]user, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	defer f.Close()
	var users []user
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, pw, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if ok && name != "" {
			users = append(users, user{name, pw})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("no users in %s", path)
	}
	return users, nil
}

func loadRADIUS(server string, secret []byte, users []user, conc int, dur time.Duration, once bool, timeout time.Duration) (result, error) {
	var next atomic.Int64
	deadline := time.Now().Add(dur)
	results := make([]result, conc)
	errs := make([]error, conc)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			conn, err := net.Dial("udp", server)
			if err != nil {
				errs[w] = err
				return
			}
			defer conn.Close()
			buf := make([]byte, radius.MaxPacketLength)
			r := &results[w]
			for {
				i := next.Add(1) - 1
				if once && i >= int64(len(users)) {
					return
				}
				if !once && time.Now().After(deadline) {
					return
				}
				u := users[i%int64(len(users))]
				req, err := request(secret, u)
				if err != nil {
					errs[w] = err
					return
				}
				t0 := time.Now()
				if _, err := conn.Write(req); err != nil {
					errs[w] = err
					return
				}
				code, ok := await(conn, buf, req, secret, timeout)
				r.requests++
				if !ok {
					r.timeouts++
					continue
				}
				r.latencies = append(r.latencies, time.Since(t0))
				if code == radius.CodeAccessAccept {
					r.accepts++
				} else {
					r.rejects++
				}
			}
		})
	}
	wg.Wait()
	total := merge(results)
	total.wall = time.Since(start)
	return total, errors.Join(errs...)
}

// await reads until the reply to req arrives (stale replies to earlier,
// timed-out requests are skipped) or the timeout passes.
func await(conn net.Conn, buf, req, secret []byte, timeout time.Duration) (radius.Code, bool) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return 0, false
		}
		if n >= 20 && buf[1] == req[1] && radius.IsAuthenticResponse(buf[:n], req, secret) {
			return radius.Code(buf[0]), true
		}
	}
}

func request(secret []byte, u user) ([]byte, error) {
	p := radius.New(radius.CodeAccessRequest, secret)
	p.Attributes = append(p.Attributes, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)})
	if err := rfc2865.UserName_SetString(p, u.name); err != nil {
		return nil, err
	}
	if err := rfc2865.UserPassword_SetString(p, u.password); err != nil {
		return nil, err
	}
	if err := rfc2865.NASIdentifier_SetString(p, "radload"); err != nil {
		return nil, err
	}
	b, err := p.Encode()
	if err != nil {
		return nil, err
	}
	m := hmac.New(md5.New, secret)
	m.Write(b)
	copy(b[22:38], m.Sum(nil))
	return b, nil
}

func loadHTTP(url, token string, conc int, dur time.Duration) (result, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	deadline := time.Now().Add(dur)
	results := make([]result, conc)
	errs := make([]error, conc)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			r := &results[w]
			for time.Now().Before(deadline) {
				req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
				if err != nil {
					errs[w] = err
					return
				}
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				r.requests++
				if err != nil {
					r.timeouts++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				r.latencies = append(r.latencies, time.Since(t0))
				if resp.StatusCode == http.StatusOK {
					r.accepts++
				} else {
					r.rejects++
				}
			}
		})
	}
	wg.Wait()
	total := merge(results)
	total.wall = time.Since(start)
	return total, errors.Join(errs...)
}

func merge(rs []result) result {
	var t result
	for _, r := range rs {
		t.latencies = append(t.latencies, r.latencies...)
		t.accepts += r.accepts
		t.rejects += r.rejects
		t.timeouts += r.timeouts
		t.requests += r.requests
	}
	return t
}

func report(out io.Writer, r result) {
	wall := r.wall
	lat := slices.Clone(r.latencies)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	_, _ = fmt.Fprintf(out, "requests=%d accepts=%d rejects=%d timeouts=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f\n",
		r.requests, r.accepts, r.rejects, r.timeouts, wall.Seconds(), float64(r.requests-r.timeouts)/wall.Seconds(), pct(0.50), pct(0.99))
}

// Command ldapload is the load client of scripts/bench ldap: it drives an
// LDAP server (our outpost or slapd) with N connections and prints one line
// of results, key=value, so the script can compare servers measured the
// same way.
//
//	ldapload -url ldap://127.0.0.1:3389 -base dc=bench,dc=example -users users.txt -mode bind
//
// Modes:
//
//	bind    each operation is a simple bind as a random user (bind cache)
//	search  each operation searches one random user by cn (bound once as the service account)
//	login   a service account searches the user, then binds as the DN found, on
//	        one connection: the usual application login pattern
//	http    GET -http with "Authorization: Bearer -token" (one core request)
//	flow    the core requests of one direct-mode bind, sent straight to the
//	        core at -http as the outpost sends them (flow.go): the core
//	        round trip a bind cannot beat
//
// -once runs each user once (first binds: every one runs a flow).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

type user struct{ name, password string }

func main() {
	os.Exit(run())
}

func run() int {
	url := flag.String("url", "", "ldap://host:port")
	base := flag.String("base", "", "base DN")
	usersFile := flag.String("users", "", "file of 'username password' lines")
	mode := flag.String("mode", "bind", "bind, search, login, http or flow")
	conc := flag.Int("c", 32, "connections")
	dur := flag.Duration("duration", 10*time.Second, "how long to run")
	once := flag.Bool("once", false, "each user once")
	svcDN := flag.String("service-dn", "", "service account DN (search, login)")
	svcPW := flag.String("service-password", "", "service account password")
	userDNFmt := flag.String("user-dn", "cn=%s,ou=users,%s", "user DN format (username, base)")
	httpURL := flag.String("http", "", "URL for -mode http; the core's URL for -mode flow")
	token := flag.String("token", "", "bearer token for -mode http; the outpost token for -mode flow")
	flowSlug := flag.String("flow", "", "-mode flow: the flow to run (default: the provider's bind flow)")
	flag.Parse()

	var users []user
	if *usersFile != "" {
		f, err := os.Open(*usersFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if n, p, ok := strings.Cut(strings.TrimSpace(sc.Text()), " "); ok {
				users = append(users, user{n, p})
			}
		}
		f.Close()
	}
	if *mode != "http" && len(users) == 0 {
		fmt.Fprintln(os.Stderr, "no users")
		return 2
	}
	var fc *flowClient
	if *mode == "flow" {
		var err error
		if fc, err = newFlowClient(*httpURL, *token, *base, *flowSlug); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var next atomic.Int64
	var errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			pick := func() (user, bool) {
				if *once {
					i := next.Add(1) - 1
					if int(i) >= len(users) {
						return user{}, false
					}
					return users[i], true
				}
				return users[rand.IntN(len(users))], ctx.Err() == nil
			}
			if *mode == "http" {
				client := &http.Client{Timeout: 10 * time.Second}
				for ctx.Err() == nil {
					req, _ := http.NewRequest(http.MethodGet, *httpURL, nil)
					req.Header.Set("Authorization", "Bearer "+*token)
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != 200 {
						errs.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
					mine = append(mine, time.Since(t0))
				}
				return
			}
			if fc != nil {
				for {
					u, ok := pick()
					if !ok {
						return
					}
					t0 := time.Now()
					if err := fc.login(context.Background(), u.name, u.password); err != nil {
						errs.Add(1)
						if errs.Load() == 1 {
							fmt.Fprintln(os.Stderr, "flow:", err)
						}
					}
					mine = append(mine, time.Since(t0))
				}
			}
			conn, err := goldap.DialURL(*url)
			if err != nil {
				errs.Add(1)
				return
			}
			defer conn.Close()
			conn.SetTimeout(30 * time.Second)
			if *mode == "search" {
				if err := conn.Bind(*svcDN, *svcPW); err != nil {
					errs.Add(1)
					return
				}
			}
			for {
				u, ok := pick()
				if !ok {
					return
				}
				t0 := time.Now()
				var err error
				switch *mode {
				case "bind":
					err = conn.Bind(fmt.Sprintf(*userDNFmt, u.name, *base), u.password)
				case "search":
					err = searchOne(conn, *base, u.name)
				case "login":
					if err = conn.Bind(*svcDN, *svcPW); err == nil {
						var dn string
						dn, err = findDN(conn, *base, u.name)
						if err == nil {
							err = conn.Bind(dn, u.password)
						}
					}
				}
				if err != nil {
					errs.Add(1)
				}
				mine = append(mine, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	fmt.Printf("mode=%s ops=%d errors=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f\n", *mode, len(lat), errs.Load(),
		float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99))
	return 0
}

func searchOne(c *goldap.Conn, base, name string) error {
	_, err := findDN(c, base, name)
	return err
}

func findDN(c *goldap.Conn, base, name string) (string, error) {
	res, err := c.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 2, 0, false,
		"(&(objectClass=inetOrgPerson)(cn="+goldap.EscapeFilter(name)+"))", []string{"cn", "mail", "memberOf"}, nil))
	if err != nil {
		return "", err
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("%d entries for %s", len(res.Entries), name)
	}
	return res.Entries[0].DN, nil
}

package application

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
	"github.com/outpost-go/outposts/proxy-outpost/upstream"
)

// Metrics are the proxy outpost's request metrics, with authentik's names
// and labels.
type Metrics struct {
	Requests       *prometheus.HistogramVec
	Upstream       *prometheus.HistogramVec
	RequestsLegacy *prometheus.HistogramVec
	UpstreamLegacy *prometheus.HistogramVec

	requests observerCache[requestLabels]
	upstream observerCache[upstreamLabels]
}

type requestLabels struct{ outpost, method, host, typ string }

type upstreamLabels struct{ outpost, method, scheme, host, upstream string }

// observers are one label set's histograms: seconds and the legacy
// nanoseconds.
type observers struct{ seconds, nanos prometheus.Observer }

// maxCachedLabelSets bounds observerCache: hosts come from requests.
const maxCachedLabelSets = 1024

// observerCache keeps the histograms of label sets seen before, so that a
// request costs one map lookup instead of hashing and resolving its label
// values in each vector.
type observerCache[K comparable] struct {
	mu sync.RWMutex
	m  map[K]observers
}

func (c *observerCache[K]) get(k K, resolve func() observers) observers {
	c.mu.RLock()
	o, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = resolve()
	c.mu.Lock()
	if c.m == nil {
		c.m = map[K]observers{}
	}
	if len(c.m) < maxCachedLabelSets {
		c.m[k] = o
	}
	c.mu.Unlock()
	return o
}

// NewMetrics creates and registers the metrics (reg may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_proxy_request_duration_seconds",
			Help: "Proxy request durations",
		}, []string{"outpost_name", "method", "host", "type"}),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_proxy_upstream_response_duration_seconds",
			Help: "Proxy upstream response latencies",
		}, []string{"outpost_name", "method", "scheme", "host", "upstream_host"}),
		RequestsLegacy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_proxy_requests",
			Help: "The total number of configured providers (legacy, nanoseconds)",
		}, []string{"outpost_name", "method", "host", "type"}),
		UpstreamLegacy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_proxy_upstream_time",
			Help: "A summary of the duration we wait for the upstream reply (legacy, nanoseconds)",
		}, []string{"outpost_name", "method", "scheme", "host", "upstream_host"}),
	}
	if reg != nil {
		for _, c := range []*prometheus.HistogramVec{m.Requests, m.Upstream, m.RequestsLegacy, m.UpstreamLegacy} {
			if err := reg.Register(c); err != nil {
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					*c = *are.ExistingCollector.(*prometheus.HistogramVec)
					continue
				}
				panic(err)
			}
		}
	}
	return m
}

// ObserveRequest records one request's duration.
func (m *Metrics) ObserveRequest(outpost, method, host, typ string, d time.Duration) {
	if m == nil {
		return
	}
	o := m.requests.get(requestLabels{outpost, method, host, typ}, func() observers {
		return observers{m.Requests.WithLabelValues(outpost, method, host, typ), m.RequestsLegacy.WithLabelValues(outpost, method, host, typ)}
	})
	o.seconds.Observe(d.Seconds())
	o.nanos.Observe(float64(d))
}

func (m *Metrics) observeUpstream(outpost, method, scheme, host, upstream string, d time.Duration) {
	if m == nil {
		return
	}
	o := m.upstream.get(upstreamLabels{outpost, method, scheme, host, upstream}, func() observers {
		return observers{m.Upstream.WithLabelValues(outpost, method, scheme, host, upstream), m.UpstreamLegacy.WithLabelValues(outpost, method, scheme, host, upstream)}
	})
	o.seconds.Observe(d.Seconds())
	o.nanos.Observe(float64(d))
}

// upstreamProxy is proxy mode's application: where requests go and the
// connections they go over.
type upstreamProxy struct {
	target *url.URL
	tr     *upstream.Transport
	// poweredBy is set on every proxied response, as authentik does.
	poweredBy http.Header
}

func newUpstreamProxy(a *App) (*upstreamProxy, error) {
	raw := deref(a.cfg.InternalHost)
	target, err := url.Parse(raw)
	if err != nil || target.Host == "" || (target.Scheme != "http" && target.Scheme != "https") {
		return nil, fmt.Errorf("internal_host %q is not an http(s) URL", raw)
	}
	// Like authentik's upstream transport, HTTP(S)_PROXY does not apply.
	tr := upstream.New(upstream.Options{TLSConfig: &tls.Config{
		// #nosec G402 -- the provider's internal_host_ssl_validation asks for it.
		InsecureSkipVerify: !deref(a.cfg.InternalHostSslValidation),
		MinVersion:         tls.VersionTLS12,
	}})
	return &upstreamProxy{target: target, tr: tr, poweredBy: http.Header{"X-Powered-By": {"goauthentik.io"}}}, nil
}

// handleProxy serves proxy mode: authorise, then forward to internal_host
// with the identity headers (responses stream; WebSockets and SSE pass).
func (a *App) handleProxy(w http.ResponseWriter, r *http.Request) {
	target := a.requestURL(r)
	d := a.decide(r.Context(), r, target)
	if !d.Allowed {
		a.unauthorized(w, r, target, d, true)
		return
	}
	dest, host := a.proxy.target, ""
	if d.claims != nil {
		if p := d.claims.Proxy; p != nil {
			if p.BackendOverride != "" {
				if b, err := url.Parse(p.BackendOverride); err == nil && b.Host != "" && (b.Scheme == "http" || b.Scheme == "https") {
					dest = b
				}
			}
			if p.HostHeader != "" && !strings.ContainsAny(p.HostHeader, "\r\n /") {
				host = p.HostHeader
			}
		}
	}
	// Filled only when additionalHeaders or Basic auth add fields.
	h := make(http.Header)
	drop := dropForwarding
	var identity []byte
	if d.claims != nil {
		// The client's X-authentik-* fields are dropped (dropForwarding),
		// so the rendered ones replace them.
		identity = a.writeIdentity(h, d, true)
		if d.Rule == RuleBearer || d.Rule == RuleBasic {
			// The credentials were for the outpost, not the application.
			drop = dropForwardingAndAuthorization
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	err := a.proxy.tr.Forward(w, &upstream.Request{
		In: r, URL: upstreamURL(dest, r.URL), Host: host, Header: h, Forwarded: a.forwarded(r), Fields: identity, Drop: drop,
		ResponseHeader: a.proxy.poweredBy,
		Observe: func(took time.Duration) {
			a.deps.Metrics.observeUpstream(a.deps.OutpostName, r.Method, scheme, r.Host, dest.Host, took)
		},
	})
	if err != nil {
		a.log.Warn().Err(err).Str("upstream", dest.Host).Msg("failed to proxy to backend")
		a.writePage(w, http.StatusBadGateway, page{Title: "Bad Gateway", Message: "The application is not reachable."})
	}
}

// forwarded is X-Forwarded-For, -Host and -Proto as
// httputil.ProxyRequest.SetXForwarded sets them, keeping the values a
// trusted proxy in front of the outpost sent.
func (a *App) forwarded(r *http.Request) upstream.Forwarded {
	trusted := a.trusted(r)
	var f upstream.Forwarded
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		f.For = ip
		if prior := r.Header["X-Forwarded-For"]; trusted && len(prior) > 0 {
			f.For = strings.Join(prior, ", ") + ", " + ip
		}
	}
	f.Host, f.Proto = r.Host, "http"
	if r.TLS != nil {
		f.Proto = "https"
	}
	if trusted {
		if v := firstValue(fields.Value(r.Header, "X-Forwarded-Host")); v != "" {
			f.Host = v
		}
		if v := firstValue(fields.Value(r.Header, "X-Forwarded-Proto")); v == "http" || v == "https" {
			f.Proto = v
		}
	}
	return f
}

// dropForwarding reports the client's fields proxy mode never forwards:
// identity headers in any spelling and forwarding headers (set anew).
func dropForwarding(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return isIdentityHeader(k)
}

func dropForwardingAndAuthorization(k string) bool {
	return k == "Authorization" || dropForwarding(k)
}

// upstreamURL is where a request for in goes on dest: dest's scheme and
// host, dest's path joined with the request's by one slash, and both
// queries.
func upstreamURL(dest, in *url.URL) *url.URL {
	u := &url.URL{Scheme: dest.Scheme, Host: dest.Host, Path: in.Path, RawPath: in.RawPath, RawQuery: in.RawQuery}
	if dest.Path != "" || dest.RawPath != "" {
		u.Path = joinSlash(dest.Path, in.Path)
		if dest.RawPath != "" || in.RawPath != "" {
			u.RawPath = joinSlash(dest.EscapedPath(), in.EscapedPath())
		}
	}
	if dest.RawQuery != "" {
		u.RawQuery = dest.RawQuery
		if in.RawQuery != "" {
			u.RawQuery += "&" + in.RawQuery
		}
	}
	return u
}

// joinSlash joins two paths with exactly one slash between them.
func joinSlash(a, b string) string {
	switch aSlash, bSlash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/"); {
	case aSlash && bSlash:
		return a + b[1:]
	case !aSlash && !bSlash:
		return a + "/" + b
	}
	return a + b
}

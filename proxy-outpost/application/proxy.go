package application

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

type upstreamProxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
}

// proxyKey is the context key of a proxied request's *outgoing.
type proxyKey struct{}

// outgoing is what handleProxy decided for one request, applied by the
// ReverseProxy's Rewrite to the outgoing request: ReverseProxy already
// copies the request and its headers once, and writing the identity there,
// after it removed hop-by-hop headers, means a client naming an identity
// header in Connection cannot have it dropped.
type outgoing struct {
	d          Decision
	backend    *url.URL
	hostHeader string
	trusted    bool
}

func newUpstreamProxy(a *App) (*upstreamProxy, error) {
	raw := deref(a.cfg.InternalHost)
	target, err := url.Parse(raw)
	if err != nil || target.Host == "" || (target.Scheme != "http" && target.Scheme != "https") {
		return nil, fmt.Errorf("internal_host %q is not an http(s) URL", raw)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		// #nosec G402 -- the provider's internal_host_ssl_validation asks for it.
		InsecureSkipVerify: !deref(a.cfg.InternalHostSslValidation),
		MinVersion:         tls.VersionTLS12,
	}
	tr.MaxIdleConnsPerHost = 64
	up := &upstreamProxy{target: target}
	up.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			o, _ := pr.In.Context().Value(proxyKey{}).(*outgoing)
			if o == nil {
				// Every request reaches the proxy through handleProxy.
				o = &outgoing{}
			}
			dest := target
			if o.backend != nil {
				dest = o.backend
			}
			pr.SetURL(dest)
			if o.trusted {
				// Keep the chain the trusted proxy built; SetXForwarded
				// appends the peer to it.
				if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
					pr.Out.Header["X-Forwarded-For"] = v
				}
			}
			pr.SetXForwarded()
			if o.trusted {
				if h := firstValue(pr.In.Header.Get("X-Forwarded-Host")); h != "" {
					pr.Out.Header.Set("X-Forwarded-Host", h)
				}
				if p := firstValue(pr.In.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
					pr.Out.Header.Set("X-Forwarded-Proto", p)
				}
			}
			if o.hostHeader != "" {
				pr.Out.Host = o.hostHeader
			}
			a.setOutgoingIdentity(pr.Out.Header, o.d)
		},
		Transport: &timedTransport{rt: tr, a: a},
		// No FlushInterval: ReverseProxy already flushes every write of a
		// streaming response (SSE, unknown length); flushing every write of
		// every response cost a write syscall per copy.

		// Without a pool ReverseProxy allocates a 32 KiB copy buffer per
		// response, which alone drove most of the GC work under load.
		BufferPool: newCopyBuffers(),
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("X-Powered-By", "goauthentik.io")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			a.log.Warn().Err(err).Str("upstream", target.Host).Msg("failed to proxy to backend")
			a.writePage(w, http.StatusBadGateway, page{Title: "Bad Gateway", Message: "The application is not reachable."})
		},
	}
	return up, nil
}

// copyBufferSize is ReverseProxy's own default.
const copyBufferSize = 32 * 1024

// copyBuffers lends ReverseProxy its copy buffers.
type copyBuffers struct{ pool *sync.Pool }

func newCopyBuffers() copyBuffers {
	return copyBuffers{pool: &sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}}
}

func (c copyBuffers) Get() []byte { return *c.pool.Get().(*[]byte) }

func (c copyBuffers) Put(b []byte) {
	if cap(b) >= copyBufferSize {
		b = b[:copyBufferSize]
		c.pool.Put(&b)
	}
}

type timedTransport struct {
	rt http.RoundTripper
	a  *App
}

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	t.a.deps.Metrics.observeUpstream(t.a.deps.OutpostName, r.Method, scheme, r.Host, r.URL.Host, time.Since(start))
	return resp, err
}

// handleProxy serves proxy mode: authorise, then stream to internal_host
// with the identity headers (responses stream; WebSockets and SSE pass).
func (a *App) handleProxy(w http.ResponseWriter, r *http.Request) {
	target := a.requestURL(r)
	d := a.decide(r.Context(), r, target)
	if !d.Allowed {
		a.unauthorized(w, r, target, d, true)
		return
	}
	o := &outgoing{d: d, trusted: a.trusted(r)}
	if d.claims != nil {
		if p := d.claims.Proxy; p != nil {
			if p.BackendOverride != "" {
				if b, err := url.Parse(p.BackendOverride); err == nil && b.Host != "" && (b.Scheme == "http" || b.Scheme == "https") {
					o.backend = b
				}
			}
			if p.HostHeader != "" && !strings.ContainsAny(p.HostHeader, "\r\n /") {
				o.hostHeader = p.HostHeader
			}
		}
	}
	// A shallow copy: ReverseProxy makes the deep one (headers included)
	// for the outgoing request, and never changes the incoming one.
	in := r.WithContext(context.WithValue(r.Context(), proxyKey{}, o))
	if _, _, err := net.SplitHostPort(in.RemoteAddr); err != nil {
		in.RemoteAddr = ""
	}
	a.proxy.rp.ServeHTTP(w, in)
}

// setOutgoingIdentity replaces whatever identity a client sent in h (the
// outgoing request's own copy of the headers) with the decision's.
func (a *App) setOutgoingIdentity(h http.Header, d Decision) {
	StripIdentityHeaders(h)
	if d.claims == nil {
		return
	}
	if d.Rule == RuleBearer || d.Rule == RuleBasic {
		// The credentials were for the outpost, not the application.
		h.Del("Authorization")
	}
	a.setIdentityHeaders(h, d.claims, d.rawToken)
}

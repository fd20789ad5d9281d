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
	m.Requests.WithLabelValues(outpost, method, host, typ).Observe(d.Seconds())
	m.RequestsLegacy.WithLabelValues(outpost, method, host, typ).Observe(float64(d))
}

func (m *Metrics) observeUpstream(outpost, method, scheme, host, upstream string, d time.Duration) {
	if m == nil {
		return
	}
	m.Upstream.WithLabelValues(outpost, method, scheme, host, upstream).Observe(d.Seconds())
	m.UpstreamLegacy.WithLabelValues(outpost, method, scheme, host, upstream).Observe(float64(d))
}

type upstreamProxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
}

type ctxKey int

const (
	keyBackend ctxKey = iota
	keyHostHeader
	keyTrusted
)

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
			dest := target
			if b, ok := pr.In.Context().Value(keyBackend).(*url.URL); ok && b != nil {
				dest = b
			}
			pr.SetURL(dest)
			if trusted, _ := pr.In.Context().Value(keyTrusted).(bool); trusted {
				// Keep the chain the trusted proxy built; SetXForwarded
				// appends the peer to it.
				if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
					pr.Out.Header["X-Forwarded-For"] = v
				}
			}
			pr.SetXForwarded()
			if trusted, _ := pr.In.Context().Value(keyTrusted).(bool); trusted {
				if h := firstValue(pr.In.Header.Get("X-Forwarded-Host")); h != "" {
					pr.Out.Header.Set("X-Forwarded-Host", h)
				}
				if p := firstValue(pr.In.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
					pr.Out.Header.Set("X-Forwarded-Proto", p)
				}
			}
			if h, ok := pr.In.Context().Value(keyHostHeader).(string); ok && h != "" {
				pr.Out.Host = h
			}
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
	out := r.Clone(r.Context())
	StripIdentityHeaders(out.Header)
	ctx := out.Context()
	if d.claims != nil {
		if d.Rule == RuleBearer || d.Rule == RuleBasic {
			// The credentials were for the outpost, not the application.
			out.Header.Del("Authorization")
		}
		a.setIdentityHeaders(out.Header, d.claims, d.rawToken)
		if p := d.claims.Proxy; p != nil {
			if p.BackendOverride != "" {
				if b, err := url.Parse(p.BackendOverride); err == nil && b.Host != "" && (b.Scheme == "http" || b.Scheme == "https") {
					ctx = withValue(ctx, keyBackend, b)
				}
			}
			if p.HostHeader != "" && !strings.ContainsAny(p.HostHeader, "\r\n /") {
				ctx = withValue(ctx, keyHostHeader, p.HostHeader)
			}
		}
	}
	ctx = withValue(ctx, keyTrusted, a.trusted(r))
	if _, _, err := net.SplitHostPort(out.RemoteAddr); err != nil {
		out.RemoteAddr = ""
	}
	a.proxy.rp.ServeHTTP(w, out.WithContext(ctx))
}

func withValue(ctx context.Context, k ctxKey, v any) context.Context {
	return context.WithValue(ctx, k, v)
}

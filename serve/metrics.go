package serve

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/metrics"
)

type serverMetrics struct {
	reg        *prometheus.Registry
	handler    http.Handler
	duration   *prometheus.HistogramVec
	served     *prometheus.CounterVec
	evicted    prometheus.Counter
	verifiedAt atomic.Int64
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry()}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "metactl_http_request_duration_seconds",
		Help:    "Time to answer a request of metactl serve, by endpoint and HTTP status code.",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"endpoint", "code"})
	m.served = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metactl_serve_requests_total", Help: "Requests answered by metactl serve, by path and HTTP status.",
	}, []string{"path", "status"})
	m.evicted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "metactl_serve_connections_closed_total",
		Help: "Connections closed by the cap on open connections (the longest-idle one, or the new one when all are busy).",
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "metactl_build_info", Help: "1, labelled with the version, VCS revision and Go version metactl was built with.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(s.opts.Version, s.opts.Revision, runtime.Version()).Set(1)
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "metactl_catalog_up", Help: "1 if the catalog opened at the last check (readiness, a scrape, or the poll), else 0.",
	}, func() float64 {
		if s.up.Load() {
			return 1
		}
		return 0
	})
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "metactl_serve_open_connections", Help: "Connections open now.",
	}, func() float64 {
		if s.conns == nil {
			return 0
		}
		return float64(s.conns.count())
	})
	m.reg.MustRegister(metrics.NewCollector(metrics.Source{
		Facts: func() (*metrics.Facts, error) {
			f, err := s.facts()
			s.up.Store(err == nil)
			if err != nil {
				return nil, nil // metactl_catalog_up says so; the rest stays
			}
			return f, nil
		},
		Verify: func() *metrics.Verify {
			v := s.verified.Load()
			if v == nil {
				return nil
			}
			return &metrics.Verify{Problems: len(v.Problems), At: time.Unix(0, m.verifiedAt.Load())}
		},
	}), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.duration, m.served, m.evicted, buildInfo, up, conns)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

func (m *serverMetrics) observe(endpoint string, code int, d time.Duration) {
	c := strconv.Itoa(code)
	m.duration.WithLabelValues(endpoint, c).Observe(d.Seconds())
	m.served.WithLabelValues(endpoint, c).Inc()
}

// facts returns the metrics of the generation the catalog is at, read
// once per generation (they build the view: a scrape must not cost that
// each time).
func (s *Server) facts() (*metrics.Facts, error) {
	g, err := s.currentGeneration(s.ctx)
	if err != nil {
		return nil, err
	}
	return s.generation(g).facts.get(s.ctx, func() (*metrics.Facts, error) {
		db, err := s.open(s.ctx)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		var f *metrics.Facts
		err = db.View(s.ctx, func(tx catalog.Tx) error {
			f, err = metrics.Read(tx)
			return err
		})
		return f, err
	})
}

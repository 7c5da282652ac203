package webhook

import "github.com/prometheus/client_golang/prometheus"

// metrics are a Deliverer's Prometheus series.
type metrics struct {
	attempts   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
}

// newMetrics makes the series and registers them in reg (when not nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_webhook_attempts_total",
			Help: "Callback POSTs this process made, by result: delivered (2xx) or failed (any other answer, or none).",
		}, []string{"result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_webhook_deliveries_total",
			Help: "Callback deliveries this process ended, by outcome: delivered, or failed (given up after the retry window).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jobqueue_webhook_attempt_duration_seconds",
			Help:    "Time of one callback POST, from the dial to the receiver's answer.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1 ms to ~65 s
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.deliveries, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

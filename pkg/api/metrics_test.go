package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/metriclabel"
	"github.com/prometheus/client_golang/prometheus"
)

// /metrics serves this instance's HTTP, stream and submission metrics and
// the queue's state read from Redis, open even when keys are configured.
func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t)})
	id := b.submitAs(t, submitSecret)
	scrape := func() string {
		t.Helper()
		resp, data := b.do(t, "GET", "/metrics", "")
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d %s", resp.StatusCode, data)
		}
		return string(data)
	}
	cancelled := b.submitAs(t, submitSecret)
	b.call(t, "POST", "/api/v1/jobs/cancel/"+cancelled, "", http.StatusOK, "X-API-Key", adminSecret)
	stream := b.openStreamWith(t, id, "X-API-Key", readSecret)
	waitFor(t, "the stream counted", func() bool { return strings.Contains(scrape(), "jobqueue_sse_streams_open 1\n") })
	stream.close()
	waitFor(t, "the closed stream counted", func() bool { return strings.Contains(scrape(), "jobqueue_sse_streams_open 0\n") })

	out := scrape()
	for _, want := range []string{
		"jobqueue_redis_up 1\n",
		`jobqueue_jobs{state="pending"} 1` + "\n",
		`jobqueue_jobs{state="cancelled"} 1` + "\n",
		`jobqueue_jobs{state="completed"} 0` + "\n",
		`jobqueue_queue_jobs{queue="default",state="pending"} 1` + "\n",
		`jobqueue_queue_oldest_pending_age_seconds{queue="default"}`,
		`jobqueue_queue_paused{queue="default"} 0` + "\n",
		"jobqueue_jobs_deadline_exceeded_total 0\n",
		"jobqueue_runs_timed_out_total 0\n",
		"jobqueue_workers_live 0\n",
		`jobqueue_jobs_submitted_total{queue="default",type="demo"} 2` + "\n",
		`jobqueue_jobs_cancelled_total{queue="default",type="demo"} 1` + "\n",
		`jobqueue_http_request_duration_seconds_count{code="201",method="POST",route="/api/v1/jobs"} 2` + "\n",
		`jobqueue_http_request_duration_seconds_count{code="200",method="GET",route="/api/v1/jobs/status/:job_id/stream"}`,
		"jobqueue_long_polls_open 0\n",
		"jobqueue_events_dropped_total 0\n",
		"go_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(out, id) {
		t.Error("/metrics names a job id: a series per job would grow without bound")
	}
}

// A made-up method is one "OTHER" series, however many are sent: the
// method label must not grow with what clients send.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for i := range 5 {
		resp, _ := b.do(t, fmt.Sprintf("ZZTOP%d", i), "/healthz", "")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("ZZTOP%d /healthz: %d, want 405", i, resp.StatusCode)
		}
	}
	_, data := b.do(t, "GET", "/metrics", "")
	out := string(data)
	if strings.Contains(out, "ZZTOP") {
		t.Error("/metrics names a made-up method")
	}
	if want := `jobqueue_http_request_duration_seconds_count{code="405",method="OTHER",route="unmatched"} 5`; !strings.Contains(out, want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// The job counters name at most metriclabel.DefaultMax types and
// maxQueueLabels queues (every queue the registry may hold); the rest
// count under one label each.
func TestJobLabelsAreBounded(t *testing.T) {
	t.Parallel()
	m, err := newMetrics(prometheus.NewRegistry(), nil, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, q := m.jobLabels("t0", ""); q != "default" {
		t.Fatalf("no queue: %q, want default", q)
	}
	for i := range maxQueueLabels - 1 {
		typ, q := m.jobLabels("t"+strconv.Itoa(i), "q"+strconv.Itoa(i))
		if q != "q"+strconv.Itoa(i) || (i < metriclabel.DefaultMax) != (typ == "t"+strconv.Itoa(i)) {
			t.Fatalf("labels %d: %q %q", i, typ, q)
		}
	}
	if typ, q := m.jobLabels("one-more", "one-more"); typ != "_other" || q != "_other" {
		t.Fatalf("past the bounds: %q %q", typ, q)
	}
	if typ, q := m.jobLabels("t7", "q7"); typ != "t7" || q != "q7" {
		t.Fatalf("known values: %q %q", typ, q)
	}
}

package api

import (
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The caller's trace (its traceparent) as the test sends it.
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
	callerTP    = "00-" + callerTrace + "-" + callerSpan + "-01"
)

// One trace, the caller's, links the submitting request to the run:
// HTTP request → jobqueue.submit → jobqueue.claim → jobqueue.handler →
// jobqueue.complete, each the child of the one before.
func TestTraceFromRequestToCompletion(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(ctxT(t)) })
	b := setup(t, Config{Tracer: tp})
	b.startWorker(t)
	resp, body := b.do(t, "POST", "/api/v1/jobs", `{"type":"quick"}`, "traceparent", callerTP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	byName := map[string]tracetest.SpanStub{}
	waitFor(t, "the completion's span", func() bool {
		for _, s := range exp.GetSpans() {
			byName[s.Name] = s
		}
		_, ok := byName["jobqueue.complete"]
		return ok
	})
	chain := []string{"POST /api/v1/jobs", "jobqueue.submit", "jobqueue.claim", "jobqueue.handler", "jobqueue.complete"}
	parent := callerSpan
	for _, name := range chain {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %v", name, keysOfSpans(byName))
		}
		if got := s.SpanContext.TraceID().String(); got != callerTrace {
			t.Errorf("%s: trace %s, want the caller's %s", name, got, callerTrace)
		}
		if got := s.Parent.SpanID().String(); got != parent {
			t.Errorf("%s: parent %s, want %s (the span before it)", name, got, parent)
		}
		parent = s.SpanContext.SpanID().String()
	}
}

func keysOfSpans(m map[string]tracetest.SpanStub) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// With tracing off, a job stores the traceparent its submitter sent (for
// a worker that traces), and nothing when none was sent.
func TestTraceParentStoredWhenOff(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t) // it runs "quick"
	resp, body := b.do(t, "POST", "/api/v1/jobs", `{"type":"quick"}`, "traceparent", callerTP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var sent map[string]any
	mustJSON(t, body, &sent)
	plain := b.submit(t, `{"type":"quick"}`)
	ctx := ctxT(t)
	j, err := b.client.Get(ctx, sent["job_id"].(string))
	if err != nil || j.TraceParent != callerTP {
		t.Fatalf("stored trace %q, %v; want %q", j.TraceParent, err, callerTP)
	}
	if j, _ := b.client.Get(ctx, plain); j.TraceParent != "" {
		t.Fatalf("an untraced job stored %q", j.TraceParent)
	}
}

// A worker of the lease protocol continues the job's trace: its lease
// carries the traceparent of the claim's span, and its complete call,
// sent with that traceparent, makes spans of that trace: HTTP request →
// jobqueue.submit → jobqueue.claim → POST .../complete →
// jobqueue.complete.
func TestTraceThroughLeaseProtocol(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(ctxT(t)) })
	b := setup(t, Config{Tracer: tp, JobTypes: TypeSet{}})
	b.lease(t, `{"worker_id": "py-1", "types": ["ocr"]}`) // makes "ocr" known
	resp, body := b.do(t, "POST", "/api/v1/jobs", `{"type":"ocr"}`, "traceparent", callerTP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	got := b.lease(t, `{"worker_id": "py-1", "types": ["ocr"]}`)
	if len(got) != 1 || !strings.HasPrefix(got[0].TraceParent, "00-"+callerTrace+"-") {
		t.Fatalf("leased %+v: want the caller's trace", got)
	}
	resp, body = b.do(t, "POST", "/api/v1/leases/"+got[0].JobID+"/complete",
		`{"lease_token": "`+got[0].LeaseToken+`"}`, "traceparent", got[0].TraceParent)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	claimSpan := strings.Split(got[0].TraceParent, "-")[2]
	if s, ok := byName["jobqueue.claim"]; !ok || s.SpanContext.SpanID().String() != claimSpan {
		t.Fatalf("the lease's traceparent %s is not the claim's span (%v)", got[0].TraceParent, keysOfSpans(byName))
	}
	req, ok := byName["POST /api/v1/leases/:job_id/complete"]
	if !ok {
		t.Fatalf("no span of the complete call among %v", keysOfSpans(byName))
	}
	done := byName["jobqueue.complete"]
	if req.SpanContext.TraceID().String() != callerTrace || req.Parent.SpanID().String() != claimSpan ||
		done.SpanContext.TraceID().String() != callerTrace || done.Parent.SpanID() != req.SpanContext.SpanID() {
		t.Fatalf("complete call %v (parent %v), jobqueue.complete parent %v: want the claim → call → script chain",
			req.SpanContext, req.Parent, done.Parent)
	}
}

// With tracing off, a lease hands the worker the traceparent stored with
// the job as it is, and none for an untraced job.
func TestLeaseCarriesStoredTraceWhenOff(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{}})
	b.lease(t, `{"worker_id": "py-1", "types": ["ocr"]}`)
	resp, body := b.do(t, "POST", "/api/v1/jobs", `{"type":"ocr", "priority": 9}`, "traceparent", callerTP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	b.submit(t, `{"type":"ocr"}`)
	got := b.lease(t, `{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 2}`)
	if len(got) != 2 || got[0].TraceParent != callerTP || got[1].TraceParent != "" {
		t.Fatalf("leased %+v: want the stored traceparent, then none", got)
	}
}

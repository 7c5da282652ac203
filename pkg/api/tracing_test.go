package api

import (
	"net/http"
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

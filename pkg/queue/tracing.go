package queue

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (OpenTelemetry). A job carries the trace of its submission:
// Enqueue stores the W3C traceparent of the submitting context's span
// with the job (Job.TraceParent, the hash's "trace" field, 55 bytes) —
// only when the context has one, that is when tracing is on or the
// submitter sent a traceparent, so an untraced job stores nothing. A
// worker that traces continues it: the run's spans are children of the
// stored context, one trace from the submitting request to the
// completion:
//
//	HTTP request (pkg/api) → jobqueue.submit → jobqueue.claim
//	  → jobqueue.handler → jobqueue.complete
//
// With Config.Tracer nil no span is made, nothing is allocated for one.

// tracerName is the instrumentation scope of the engine's spans.
const tracerName = "github.com/compileo/jobqueue/pkg/queue"

// The span names.
const (
	spanSubmit   = "jobqueue.submit"
	spanClaim    = "jobqueue.claim"
	spanHandler  = "jobqueue.handler"
	spanComplete = "jobqueue.complete"
	spanFail     = "jobqueue.fail"
)

// traceContext is the propagation format a job's trace is stored in.
var traceContext = propagation.TraceContext{}

// traceParentOf is the W3C traceparent of ctx's span, "" when it has
// none.
func traceParentOf(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// startSubmitSpan starts the span of a submission of n jobs when tracing
// is on; the returned end ends it (a no-op when off).
func (c *Client) startSubmitSpan(ctx context.Context, n int) (context.Context, func(error)) {
	if c.tracer == nil {
		return ctx, func(error) {}
	}
	ctx, span := c.tracer.Start(ctx, spanSubmit, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("jobqueue.jobs", n)))
	return ctx, func(err error) { endSpan(span, err) }
}

// endSpan ends span, marked failed by err when not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// claimSpan records the claim of j, from start to now, as a child of the
// trace stored with j, and returns ctx carrying it (the parent of the
// run's spans). Jobs stored without a trace, or a worker that does not
// trace, get ctx back as it is.
func (c *Client) claimSpan(ctx context.Context, j *Job, workerID string, start time.Time) context.Context {
	if c.tracer == nil || j.TraceParent == "" {
		return ctx
	}
	parent := traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": j.TraceParent})
	_, span := c.tracer.Start(parent, spanClaim, trace.WithTimestamp(start),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(jobAttributes(j)...),
		trace.WithAttributes(attribute.String("jobqueue.worker", workerID)))
	span.End()
	return trace.ContextWithSpanContext(ctx, span.SpanContext())
}

// leaseTrace is the trace context a worker of the lease protocol
// continues for j: the span of its claim when this client traces (a
// child of the trace stored with j), else the stored one as it is.
func (c *Client) leaseTrace(ctx context.Context, j *Job, workerID string, start time.Time) string {
	if c.tracer == nil || j.TraceParent == "" {
		return j.TraceParent
	}
	return traceParentOf(c.claimSpan(ctx, j, workerID, start))
}

// startLeaseSpan starts span name of a call about leased job id when
// this client traces and ctx carries a trace: the worker sent the job's
// traceparent with its call, so the span joins the job's trace.
func (c *Client) startLeaseSpan(ctx context.Context, name, id string) (context.Context, func(error)) {
	if c.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, func(error) {}
	}
	ctx, span := c.tracer.Start(ctx, name, trace.WithAttributes(attribute.String("jobqueue.job_id", id)))
	return ctx, func(err error) { endSpan(span, err) }
}

// startRunSpan starts a span named name of run r, a child of what ctx
// carries, when r's job is traced.
func (w *Worker) startRunSpan(ctx context.Context, r *run, name string) (context.Context, func(error)) {
	if w.c.tracer == nil || r.job.TraceParent == "" {
		return ctx, func(error) {}
	}
	ctx, span := w.c.tracer.Start(ctx, name, trace.WithAttributes(jobAttributes(r.job)...))
	return ctx, func(err error) { endSpan(span, err) }
}

// jobAttributes are the span attributes naming j.
func jobAttributes(j *Job) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("jobqueue.job_id", j.ID),
		attribute.String("jobqueue.type", j.Type), attribute.String("jobqueue.queue", j.Queue),
		attribute.Int("jobqueue.attempt", j.Attempts)}
}

package api

import (
	"strconv"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the API's spans.
const tracerName = "github.com/compileo/jobqueue/pkg/api"

// traceContext reads the W3C traceparent (and tracestate) a caller sends.
var traceContext = propagation.TraceContext{}

// traced is the middleware of tracing: each request gets a server span,
// a child of the caller's traceparent when it sent one, in its context,
// so a job it submits joins the request's trace (queue/tracing.go).
// With tracing off (Config.Tracer nil) a request costs one header
// lookup: only a sent traceparent is carried on, to be stored with the
// jobs the request submits.
func (s *server) traced(tracer trace.Tracer) gin.HandlerFunc {
	return func(c *gin.Context) {
		if tracer == nil && c.Request.Header.Get("traceparent") == "" {
			return
		}
		ctx := traceContext.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		if tracer == nil {
			c.Request = c.Request.WithContext(ctx)
			return
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		ctx, span := tracer.Start(ctx, c.Request.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", methodLabel(c.Request.Method)),
				attribute.String("http.route", route)))
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		status := c.Writer.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		span.End()
	}
}

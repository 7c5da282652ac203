package startup

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func TestTracingSwitches(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
	} {
		if got := tracingOn(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: on %v, want %v", tc.env, got, tc.want)
		}
	}
}

// With an OTLP endpoint set, spans reach it over HTTP; without, there is
// no provider at all.
func TestTracingExportsOverHTTP(t *testing.T) {
	got := make(chan string, 4)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type")
	}))
	defer collector.Close()
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	tp, shutdown, err := Tracing(ctx, log, "test")
	if err != nil || tp != nil {
		t.Fatalf("no OTEL_* set: %v %v", tp, err)
	}
	_ = shutdown(ctx)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	tp, shutdown, err = Tracing(ctx, log, "test")
	if err != nil || tp == nil {
		t.Fatalf("endpoint set: %v %v", tp, err)
	}
	_, span := tp.Tracer("t").Start(ctx, "one", trace.WithSpanKind(trace.SpanKindInternal))
	span.End()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = shutdown(sctx) // flushes
	select {
	case req := <-got:
		if req != "POST /v1/traces application/x-protobuf" {
			t.Fatalf("export %q", req)
		}
	case <-sctx.Done():
		t.Fatal("no export reached the collector")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	if _, _, err := Tracing(ctx, log, "test"); err == nil {
		t.Fatal("grpc accepted")
	}
}

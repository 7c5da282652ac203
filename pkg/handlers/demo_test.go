package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

func TestDemoPayload(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    demoParams
		wantErr string // "" for success; else the error must be permanent and contain it
	}{
		{"empty object", `{}`, demoParams{steps: 5, stepMS: 200}, ""},
		{"empty payload", ``, demoParams{steps: 5, stepMS: 200}, ""},
		{"null", `null`, demoParams{steps: 5, stepMS: 200}, ""},
		{"all fields", `{"steps": 10, "step_ms": 0, "fail_at": 10}`, demoParams{steps: 10, stepMS: 0, failAt: 10}, ""},
		{"limits", `{"steps": 10000, "step_ms": 600000, "fail_at": 0}`, demoParams{steps: 10000, stepMS: 600000}, ""},
		{"null field is default", `{"steps": null}`, demoParams{steps: 5, stepMS: 200}, ""},
		{"not an object", `[1]`, demoParams{}, "want a JSON object, got a list"},
		{"number", `7`, demoParams{}, "want a JSON object, got a number"},
		{"malformed", `{"steps":`, demoParams{}, "invalid payload"},
		{"trailing data", `{"steps": 1} x`, demoParams{}, "data after the JSON object"},
		{"unknown field", `{"stepms": 5}`, demoParams{}, `unknown field "stepms"`},
		{"steps zero", `{"steps": 0}`, demoParams{}, "steps = 0, want 1-10000"},
		{"steps too many", `{"steps": 10001}`, demoParams{}, "steps = 10001, want 1-10000"},
		{"steps string", `{"steps": "3"}`, demoParams{}, "cannot unmarshal string"},
		{"steps fraction", `{"steps": 2.5}`, demoParams{}, "cannot unmarshal number 2.5"},
		{"steps huge", `{"steps": 1e30}`, demoParams{}, "cannot unmarshal number"},
		{"step_ms negative", `{"step_ms": -1}`, demoParams{}, "step_ms = -1, want 0-600000"},
		{"step_ms too long", `{"step_ms": 600001}`, demoParams{}, "step_ms = 600001, want 0-600000"},
		{"fail_at negative", `{"fail_at": -1}`, demoParams{}, "fail_at = -1, want 0-5"},
		{"fail_at past default steps", `{"fail_at": 6}`, demoParams{}, "fail_at = 6, want 0-5"},
		{"fail_at past steps", `{"steps": 3, "fail_at": 4}`, demoParams{}, "fail_at = 4, want 0-3"},
		{"fail_at bool", `{"fail_at": true}`, demoParams{}, "cannot unmarshal bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDemoPayload(json.RawMessage(tt.payload))
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !queue.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a permanent error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDemoRuns(t *testing.T) {
	res, calls, err := runJob(t, t.Context(), TypeDemo, `{"steps": 3, "step_ms": 1}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, res), `{"steps":3,"step_ms":1}`; got != want {
		t.Fatalf("result %s, want %s", got, want)
	}
	if len(calls) != 3 || calls[2].percent != 100 {
		t.Fatalf("progress calls %+v, want 3 ending at 100", calls)
	}
	checkProgress(t, calls, "step", 3)
}

func TestDemoBadPayloadIsPermanent(t *testing.T) {
	for _, payload := range []string{`[]`, `{"steps": -1}`, `{"steps": "x"}`, `{"fail_at": 99}`} {
		_, calls, err := runJob(t, t.Context(), TypeDemo, payload)
		if !queue.IsPermanent(err) || len(calls) != 0 {
			t.Errorf("payload %s: err = %v, progress %+v; want a permanent error and no progress", payload, err, calls)
		}
	}
}

func TestDemoFailAt(t *testing.T) {
	tests := []struct{ steps, failAt int }{{5, 1}, {5, 3}, {5, 5}, {1, 1}}
	for _, tt := range tests {
		payload := mustJSON(t, map[string]int{"steps": tt.steps, "step_ms": 0, "fail_at": tt.failAt})
		res, calls, err := runJob(t, t.Context(), TypeDemo, payload)
		if err == nil || queue.IsPermanent(err) {
			t.Fatalf("%s: err = %v (result %v), want a retryable error", payload, err, res)
		}
		if want := "demo: failure injected at step " + mustJSON(t, tt.failAt); err.Error() != want {
			t.Fatalf("%s: err = %q, want %q", payload, err, want)
		}
		if len(calls) != tt.failAt-1 {
			t.Fatalf("%s: progress calls %+v, want %d", payload, calls, tt.failAt-1)
		}
		checkProgress(t, calls, "step", tt.steps)
	}
}

func TestDemoCancel(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		steps    int
		cancelIn time.Duration
	}{
		{"between short steps", `{"steps": 100, "step_ms": 20}`, 100, 70 * time.Millisecond},
		{"within a long step", `{"steps": 2, "step_ms": 600000}`, 2, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			timer := time.AfterFunc(tt.cancelIn, cancel)
			defer timer.Stop()
			start := time.Now()
			_, calls, err := runJob(t, ctx, TypeDemo, tt.payload)
			if took := time.Since(start); took > time.Second {
				t.Fatalf("returned %s after start, want well within 1s", took)
			}
			if !errors.Is(err, context.Canceled) || queue.IsPermanent(err) {
				t.Fatalf("err = %v, want context.Canceled, not permanent", err)
			}
			if !strings.Contains(err.Error(), "demo: stopped in step") {
				t.Fatalf("err = %q, want it to say where it stopped", err)
			}
			if len(calls) >= tt.steps {
				t.Fatalf("%d progress calls: the run went on after the cancel", len(calls))
			}
			checkProgress(t, calls, "step", tt.steps)
		})
	}
}

func TestDemoCancelledBeforeStart(t *testing.T) {
	cause := errors.New("job cancelled by user")
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(cause)
	_, calls, err := runJob(t, ctx, TypeDemo, `{"steps": 3, "step_ms": 0}`)
	if !errors.Is(err, cause) || len(calls) != 0 {
		t.Fatalf("err = %v, progress %+v; want the cause and no progress", err, calls)
	}
}

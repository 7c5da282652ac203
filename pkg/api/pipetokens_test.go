package api

import (
	"net/http"
	"strings"
	"testing"
)

// submitPipelineAs submits a pipeline of two demo jobs with secret's key
// and returns its id and its jobs' ids.
func (b *bundle) submitPipelineAs(t *testing.T, secret string) (string, map[string]any) {
	t.Helper()
	resp, data := b.do(t, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "demo"},
		{"key": "b", "type": "demo", "depends_on": ["a"]}]}`, "Authorization", "Bearer "+secret)
	var out map[string]any
	mustJSON(t, data, &out)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit pipeline: %d %s", resp.StatusCode, data)
	}
	return out["pipeline_id"].(string), out["jobs"].(map[string]any)
}

// A pipeline's stream token opens that pipeline's stream and nothing
// else: not another pipeline's, not the pipeline's record, not a job's
// stream (its own jobs' neither); and a job's token does not open a
// pipeline's stream.
func TestPipelineStreamTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t)})
	id, jobs := b.submitPipelineAs(t, submitSecret)
	other, _ := b.submitPipelineAs(t, submitSecret)
	out := b.call(t, "POST", "/api/v1/pipelines/"+id+"/stream-token", "", http.StatusOK, "X-API-Key", readSecret)
	tok, url := out["token"].(string), out["stream_url"].(string)
	if url != "/api/v1/pipelines/"+id+"/stream?token="+tok || out["expires_at"] == nil {
		t.Fatalf("stream-token answer %v", out)
	}
	resp, _ := b.do(t, "HEAD", url, "") // no key at all
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("Cache-Control") == "" {
		t.Fatalf("stream with its token: %d %v", resp.StatusCode, resp.Header)
	}
	jobTok := mintToken(t, b, jobs["a"].(string), readSecret)
	for name, path := range map[string]string{
		"another pipeline's stream": "/api/v1/pipelines/" + other + "/stream?token=" + tok,
		"the pipeline's record":     "/api/v1/pipelines/" + id + "?token=" + tok,
		"its job's stream":          "/api/v1/jobs/status/" + jobs["a"].(string) + "/stream?token=" + tok,
		"its job's logs":            "/api/v1/jobs/" + jobs["a"].(string) + "/logs?token=" + tok,
		"a job's token":             "/api/v1/pipelines/" + id + "/stream?token=" + jobTok.Token,
		"a tampered token":          "/api/v1/pipelines/" + id + "/stream?token=" + tok[:len(tok)-2] + "AA",
	} {
		if resp, _ := b.do(t, "GET", path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
	}
	// Minting needs a key (read suffices) and a pipeline that exists.
	b.wantError(t, "POST", "/api/v1/pipelines/"+id+"/stream-token", "", http.StatusUnauthorized, CodeUnauthenticated)
	b.wantError(t, "POST", "/api/v1/pipelines/"+unknownID+"/stream-token", "", http.StatusNotFound, CodeNotFound, "X-API-Key", readSecret)
	e := b.wantError(t, "POST", "/api/v1/pipelines/nope/stream-token", "", http.StatusBadRequest, CodeInvalidArgument, "X-API-Key", readSecret)
	if !strings.Contains(e["message"].(string), "pipeline id") {
		t.Errorf("message %v", e["message"])
	}
}

// Without API keys the pipeline's stream needs no token, and a minted
// one works all the same.
func TestPipelineStreamTokenWithoutKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := b.call(t, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "demo"}]}`, http.StatusCreated)
	id := p["pipeline_id"].(string)
	out := b.call(t, "POST", "/api/v1/pipelines/"+id+"/stream-token", "", http.StatusOK)
	for _, path := range []string{"/api/v1/pipelines/" + id + "/stream", out["stream_url"].(string)} {
		if resp, _ := b.do(t, "HEAD", path, ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

package api

import (
	"net/http"
	"strings"
	"testing"
)

// Streams and long polls are capped per caller and per instance, the two
// counted together; past a cap the answer is 429 too_many_streams with
// Retry-After, and a closed one frees its place.
func TestStreamAndPollCaps(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t), MaxStreams: 3, MaxStreamsPerCaller: 2})
	id := b.submitAs(t, submitSecret) // pending for good: no worker
	stream := func(secret string) *sseStream { return b.openStreamWith(t, id, "X-API-Key", secret) }
	refused := func(path, secret, why string) {
		t.Helper()
		e := b.wantError(t, "GET", path, "", http.StatusTooManyRequests, CodeTooManyStreams, "X-API-Key", secret)
		if !strings.Contains(e["message"].(string), why) {
			t.Errorf("GET %s: %v, want it to name %s", path, e["message"], why)
		}
	}
	streamPath, pollPath := "/api/v1/jobs/status/"+id+"/stream", "/api/v1/jobs/status/"+id+"/poll?timeout=300"

	first := stream(readSecret)
	stream(readSecret)
	refused(streamPath, readSecret, "API_MAX_STREAMS_PER_CALLER")
	refused(pollPath, readSecret, "API_MAX_STREAMS_PER_CALLER")
	stream(adminSecret) // another caller: its own budget, the instance's last place
	refused(streamPath, submitSecret, "API_MAX_STREAMS")
	resp, _ := b.do(t, "GET", streamPath, "", "X-API-Key", submitSecret)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Reads that do not wait are not capped.
	b.call(t, "GET", "/api/v1/jobs/status/"+id, "", 200, "X-API-Key", readSecret)

	first.close()
	waitFor(t, "the closed stream's place freed", func() bool {
		resp, _ := b.do(t, "GET", "/api/v1/jobs/status/"+id+"/poll?timeout=1&current_status=completed", "", "X-API-Key", readSecret)
		return resp.StatusCode == http.StatusOK
	})
}

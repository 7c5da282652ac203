package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// mintToken asks b for a stream token for job id with secret's key.
func mintToken(t *testing.T, b *bundle, id, secret string) streamTokenView {
	t.Helper()
	var hdr []string
	if secret != "" {
		hdr = []string{"X-API-Key", secret}
	}
	resp, data := b.do(t, "POST", "/api/v1/jobs/status/"+id+"/stream-token", "", hdr...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream-token: %d %s", resp.StatusCode, data)
	}
	var v struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
		StreamURL string `json:"stream_url"`
	}
	mustJSON(t, data, &v)
	if v.Token == "" || !strings.HasSuffix(v.StreamURL, "?token="+v.Token) || strings.Contains(string(data), secret) && secret != "" {
		t.Fatalf("stream-token answer %s", data)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("stream-token Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	exp, err := time.Parse(time.RFC3339, v.ExpiresAt)
	if err != nil || time.Until(exp) > DefaultStreamTokenTTL+time.Second {
		t.Errorf("expires_at %q", v.ExpiresAt)
	}
	return streamTokenView{Token: v.Token, StreamURL: v.StreamURL}
}

// A stream token opens its job's stream, and nothing else: not another
// job's stream, not another route; a forged or tampered one is refused.
// The key itself no longer goes in URLs.
func TestStreamTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t)})
	id := b.submitAs(t, submitSecret)
	other := b.submitAs(t, submitSecret)
	tok := mintToken(t, b, id, readSecret)

	resp, _ := b.do(t, "HEAD", tok.StreamURL, "") // no key at all
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream with its token: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for name, path := range map[string]string{
		"another job's stream": "/api/v1/jobs/status/" + other + "/stream?token=" + tok.Token,
		"the job's status":     "/api/v1/jobs/status/" + id + "?token=" + tok.Token,
		"the job's poll":       "/api/v1/jobs/status/" + id + "/poll?timeout=1&token=" + tok.Token,
		"a tampered token":     "/api/v1/jobs/status/" + id + "/stream?token=" + tok.Token[:len(tok.Token)-2] + "AA",
		"a made-up token":      "/api/v1/jobs/status/" + id + "/stream?token=st1.eA.eA",
		"the key in the URL":   "/api/v1/jobs/status/" + id + "/stream?api_key=" + readSecret,
	} {
		if resp, _ := b.do(t, "GET", path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
	}
	// Minting needs a key (read suffices) and a job that exists.
	b.wantError(t, "POST", "/api/v1/jobs/status/"+id+"/stream-token", "", http.StatusUnauthorized, CodeUnauthenticated)
	b.wantError(t, "POST", "/api/v1/jobs/status/"+unknownID+"/stream-token", "", http.StatusNotFound, CodeNotFound, "X-API-Key", readSecret)
	b.wantError(t, "POST", "/api/v1/jobs/status/nope/stream-token", "", http.StatusBadRequest, CodeInvalidArgument, "X-API-Key", readSecret)

	// An expired token is refused.
	short := setup(t, Config{Keys: testKeys(t), StreamTokenTTL: time.Millisecond})
	sid := short.submitAs(t, submitSecret)
	stale := mintToken(t, short, sid, readSecret)
	short.wantError(t, "GET", stale.StreamURL, "", http.StatusUnauthorized, CodeUnauthenticated)
}

// Any instance with the same keys (or the same TokenSecret) takes a token
// another minted: apiservers keep no state. An instance with other keys
// refuses it, and so does one where the token's key is gone.
func TestStreamTokensAcrossInstances(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Keys: testKeys(t)})
	id := a.submitAs(t, submitSecret)
	tok := mintToken(t, a, id, readSecret)
	instance := func(cfg Config) *bundle {
		cfg.Logger = discard
		h, err := New(cfg, a.client, a.hub)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return &bundle{url: ts.URL, http: checkedClient(t, ts), client: a.client, hub: a.hub}
	}
	same := instance(Config{Keys: testKeys(t)})
	if resp, _ := same.do(t, "HEAD", tok.StreamURL, ""); resp.StatusCode != 200 {
		t.Errorf("another instance with the same keys: %d", resp.StatusCode)
	}
	others, err := ParseKeys("reader:read:" + readSecret)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := instance(Config{Keys: others}).do(t, "HEAD", tok.StreamURL, ""); resp.StatusCode != 401 {
		t.Errorf("an instance with other keys: %d, want 401", resp.StatusCode)
	}
	const secret = "k3J9_xQ2-vLp8ZrT4mWn6yBc1Hd5Gf7Ea0Us"
	x := instance(Config{Keys: testKeys(t), TokenSecret: secret})
	shared := mintToken(t, x, id, readSecret)
	if resp, _ := instance(Config{Keys: others, TokenSecret: secret}).do(t, "HEAD", shared.StreamURL, ""); resp.StatusCode != 200 {
		t.Errorf("same TokenSecret, other keys: %d", resp.StatusCode)
	}
	gone, _ := ParseKeys("ops:admin:" + adminSecret)
	if resp, _ := instance(Config{Keys: gone, TokenSecret: secret}).do(t, "HEAD", shared.StreamURL, ""); resp.StatusCode != 401 {
		t.Errorf("the token's key removed: %d, want 401", resp.StatusCode)
	}
	if _, err := New(Config{TokenSecret: "weak"}, a.client, a.hub); err == nil {
		t.Error("a weak TokenSecret was accepted")
	}

	// Without keys the stream is open; a token works all the same.
	open := setup(t, Config{})
	oid := open.submit(t, `{"type": "demo"}`)
	if resp, _ := open.do(t, "HEAD", mintToken(t, open, oid, "").StreamURL, ""); resp.StatusCode != 200 {
		t.Errorf("open API, with a token: %d", resp.StatusCode)
	}
}

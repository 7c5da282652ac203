package api

import (
	"net/http"
	"testing"
)

// A JSON body must say so: a web page can post text/plain or a form to
// any site without a preflight, and the API must not take it for a job.
func TestSubmitNeedsJSONContentType(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	job := `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`
	for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/json; charset=latin1", "application/jsonx", "nonsense;;"} {
		for _, path := range []string{"/api/v1/jobs", "/api/v1/jobs/batch"} {
			body := job
			if path == "/api/v1/jobs/batch" {
				body = `{"jobs": [` + job + `]}`
			}
			b.wantError(t, "POST", path, body, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type", ct)
		}
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"} {
		resp, _ := b.do(t, "POST", "/api/v1/jobs", job, "Content-Type", ct)
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("Content-Type %q: %d, want 201", ct, resp.StatusCode)
		}
	}
	b.wantError(t, "POST", "/api/v1/jobs/batch", "", http.StatusUnsupportedMediaType, CodeUnsupportedMediaType)
	if st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200); st["total_jobs"] != 3.0 {
		t.Fatalf("stats %v: only the three JSON submissions may have created jobs", st)
	}
}

// Without CORS, a state-changing request a browser sends from another
// site is refused (403) whatever it carries; same-origin requests and
// requests no browser sent (no Sec-Fetch-Site, no Origin) pass. A site
// CORS allows is trusted.
func TestCrossSiteRequestsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	job := `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`
	id := b.submit(t, job)
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
		{"Origin", "null"},
	} {
		b.wantError(t, "POST", "/api/v1/jobs", job, http.StatusForbidden, CodeForbidden, hdr...)
		resp, _ := b.do(t, "POST", "/api/v1/jobs/cancel/"+id, "", hdr...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cancel with %v: %d, want 403", hdr, resp.StatusCode)
		}
		// Reading is not a change: a safe method passes.
		if resp, _ := b.do(t, "GET", "/api/v1/jobs/"+id, "", hdr...); resp.StatusCode != http.StatusOK {
			t.Errorf("GET with %v: %d", hdr, resp.StatusCode)
		}
	}
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "same-origin"}, {"Sec-Fetch-Site", "none"}, {"Origin", b.url}, nil} {
		if resp, _ := b.do(t, "POST", "/api/v1/jobs", job, hdr...); resp.StatusCode != http.StatusCreated {
			t.Errorf("POST with %v: %d, want 201", hdr, resp.StatusCode)
		}
	}

	cors := setup(t, Config{CORSOrigins: []string{"https://dash.example"}})
	if resp, _ := cors.do(t, "POST", "/api/v1/jobs", job, "Origin", "https://dash.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusCreated {
		t.Errorf("POST from the CORS origin: %d, want 201", resp.StatusCode)
	}
	cors.wantError(t, "POST", "/api/v1/jobs", job, http.StatusForbidden, CodeForbidden, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
}

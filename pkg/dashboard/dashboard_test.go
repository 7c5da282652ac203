package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func newTestHandler(t *testing.T) *handler {
	t.Helper()
	h, err := newHandler(static)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	tests := []struct {
		path, contentType, cache string
	}{
		{"/", "text/html; charset=utf-8", cacheRevalidate},
		{h.assetBase() + "app.js", "text/javascript; charset=utf-8", cacheImmutable},
		{h.assetBase() + "style.css", "text/css; charset=utf-8", cacheImmutable},
		{h.assetBase() + "icon.svg", "image/svg+xml", cacheImmutable},
		{h.assetBase() + "vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8", cacheImmutable},
		{h.assetBase() + "vendor/uplot/uPlot.min.css", "text/css; charset=utf-8", cacheImmutable},
		{h.assetBase() + "vendor/uplot/LICENSE", "text/plain; charset=utf-8", cacheImmutable},
		// Another release's page asks for its version: it gets this one's
		// file, which no cache may keep under that URL.
		{AssetPrefix + "0123456789ab/app.js", "text/javascript; charset=utf-8", "no-store"},
	}
	for _, tt := range tests {
		resp, body := get(t, h, "GET", tt.path)
		if resp.StatusCode != 200 || body == "" {
			t.Errorf("GET %s: %d, %d bytes", tt.path, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("Content-Type"); got != tt.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.contentType)
		}
		if got := resp.Header.Get("Cache-Control"); got != tt.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tt.path, got, tt.cache)
		}
		for k, v := range securityHeaders {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", tt.path, k, got, v)
			}
		}
		// A revalidation by ETag costs no body.
		etag := resp.Header.Get("ETag")
		if resp, body := get(t, h, "GET", tt.path, "If-None-Match", etag); etag == "" || resp.StatusCode != 304 || body != "" {
			t.Errorf("GET %s with If-None-Match %s: %d, %d bytes", tt.path, etag, resp.StatusCode, len(body))
		}
		if resp, body := get(t, h, "HEAD", tt.path); resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD %s: %d, %d bytes", tt.path, resp.StatusCode, len(body))
		}
	}
	if !strings.Contains(securityHeaders["Content-Security-Policy"], "default-src 'self'") {
		t.Errorf("the CSP allows more than self: %s", securityHeaders["Content-Security-Policy"])
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/ui/", 404},
		{"GET", "/ui/app.js", 404},
		{"GET", h.assetBase(), 404},
		{"GET", h.assetBase() + "index.html", 404}, // the page lives at / only
		{"GET", h.assetBase() + "nope.js", 404},
		{"GET", h.assetBase() + "../app.js", 404},
		{"GET", h.assetBase() + "vendor/uplot", 404}, // a directory
		{"GET", h.assetBase() + "vendor/uplot/", 404},
		{"GET", h.assetBase() + "vendor/uplot/../../app.js", 404},
		{"GET", "/index.html", 404},
		{"POST", "/", 405},
		{"DELETE", h.assetBase() + "app.js", 405},
	} {
		resp, body := get(t, h, tt.method, tt.path)
		if resp.StatusCode != tt.status || !strings.HasPrefix(body, `{"error":{"code":"`) {
			t.Errorf("%s %s: %d %s, want %d and a JSON error", tt.method, tt.path, resp.StatusCode, body, tt.status)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: no CSP on an error", tt.method, tt.path)
		}
	}
}

// The page runs under a CSP that allows no inline script, style or event
// handler, and puts API text into the page as text only: the files must
// not rely on what the policy forbids, nor parse data as HTML.
func TestFilesKeepToThePolicy(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	_, page := get(t, h, "GET", "/")
	for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*`).FindAllString(page, -1) {
		if !strings.Contains(tag, " src=") || !strings.HasSuffix(tag, ">") {
			t.Errorf("index.html has an inline script %q, which the CSP forbids", tag)
		}
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\sstyle=|<style`),               // inline style
		regexp.MustCompile(`\son[a-z]+=`),                   // inline event handler
		regexp.MustCompile(`javascript:`),                   // script URL
		regexp.MustCompile(`(?:src|href)="?(?:https?:)?//`), // another origin
	} {
		if m := re.FindString(page); m != "" {
			t.Errorf("index.html has %q, which the CSP forbids", m)
		}
	}
	if strings.Contains(page, "{{") {
		t.Errorf("index.html has an unreplaced placeholder")
	}
	// Every asset the page names, and every module a module imports,
	// exists at the current version.
	refs := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html names %d assets", len(refs))
	}
	for _, ref := range refs {
		if resp, _ := get(t, h, "GET", ref[1]); resp.StatusCode != 200 {
			t.Errorf("index.html names %s: %d", ref[1], resp.StatusCode)
		}
	}
	importRe := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)
	unsafe := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`)
	for name, f := range h.assets {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, imp := range importRe.FindAllStringSubmatch(string(f.body), -1) {
			if _, ok := h.assets[imp[1]]; !ok {
				t.Errorf("%s imports %s, which is not embedded", name, imp[1])
			}
		}
		if m := unsafe.FindString(string(f.body)); m != "" {
			t.Errorf("%s uses %s: put API text in the page with textContent", name, m)
		}
	}
}

// The version names the content: it changes with any file.
func TestVersionFollowsContent(t *testing.T) {
	t.Parallel()
	files := func(app string) fstest.MapFS {
		return fstest.MapFS{
			"static/index.html": {Data: []byte(`<script type="module" src="{{assets}}app.js"></script>`)},
			"static/app.js":     {Data: []byte(app)},
		}
	}
	h1, err1 := newHandler(files("one()"))
	h2, err2 := newHandler(files("two()"))
	h3, err3 := newHandler(files("one()"))
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(h1.version) || h1.version == h2.version || h1.version != h3.version {
		t.Fatalf("versions %s, %s, %s: want two equal and one different", h1.version, h2.version, h3.version)
	}
	if want := `src="/ui/` + h2.version + `/app.js"`; !strings.Contains(string(h2.index.body), want) {
		t.Fatalf("page %s, want %s", h2.index.body, want)
	}
	if _, err := newHandler(fstest.MapFS{"static/app.js": {Data: []byte("x")}}); err == nil {
		t.Fatal("no index.html accepted")
	}
}

// Before its first data the page says it is loading, rather than show
// empty tables, and offers no page of jobs to turn to.
func TestPageStartsInALoadingState(t *testing.T) {
	t.Parallel()
	_, page := get(t, newTestHandler(t), "GET", "/")
	for _, id := range []string{"jobs", "workers", "queues"} {
		if !regexp.MustCompile(`<tbody id="` + id + `"><tr><td colspan="\d+" class="muted loading">loading…</td></tr></tbody>`).MatchString(page) {
			t.Errorf("the %s table does not start with a loading row", id)
		}
	}
	for _, id := range []string{"page-first", "page-prev", "page-next"} {
		if !regexp.MustCompile(`<button [^>]*id="` + id + `"[^>]* disabled>`).MatchString(page) {
			t.Errorf("%s is enabled before a page of jobs is shown", id)
		}
	}
}

// The charting library is vendored as its minified build, its stylesheet
// and its license, nothing more, and the page loads it from its own
// origin before its modules.
func TestVendoredChartingLibrary(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	var vendored []string
	for name := range h.assets {
		if strings.HasPrefix(name, "vendor/") {
			vendored = append(vendored, name)
		}
	}
	slices.Sort(vendored)
	if want := []string{"vendor/uplot/LICENSE", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css"}; !slices.Equal(vendored, want) {
		t.Errorf("vendored files %v, want %v", vendored, want)
	}
	if license := string(h.assets["vendor/uplot/LICENSE"].body); !strings.Contains(license, "MIT License") {
		t.Errorf("the uPlot LICENSE is not its MIT license: %.80q", license)
	}
	if !strings.HasPrefix(string(h.assets["vendor/uplot/uPlot.iife.min.js"].body), "/*! https://github.com/leeoniya/uPlot (v") {
		t.Error("uPlot.iife.min.js lacks the release header that names its version")
	}
	_, page := get(t, h, "GET", "/")
	lib, app := strings.Index(page, `vendor/uplot/uPlot.iife.min.js" defer>`), strings.Index(page, `app.js"`)
	if lib < 0 || app < 0 || lib > app {
		t.Error("the page does not load uPlot (deferred) before its modules")
	}
}

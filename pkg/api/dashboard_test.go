package api

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The dashboard's page and assets are served at / and /ui/, open even
// when the API needs keys: they hold no data.
func TestDashboardRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t)})
	resp, page := b.do(t, "GET", "/", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %v", resp.StatusCode, resp.Header)
	}
	app := regexp.MustCompile(`src="(/ui/[0-9a-f]+/app\.js)"`).FindSubmatch(page)
	if app == nil {
		t.Fatalf("the page names no app.js:\n%s", page)
	}
	if resp, _ := b.do(t, "GET", string(app[1]), ""); resp.StatusCode != 200 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET %s: %d %v", app[1], resp.StatusCode, resp.Header)
	}
	// Assets in folders too: the vendored charting library.
	lib := regexp.MustCompile(`src="(/ui/[0-9a-f]+/vendor/uplot/[^"]+\.js)"`).FindSubmatch(page)
	if lib == nil {
		t.Fatalf("the page names no vendored uPlot:\n%s", page)
	}
	if resp, _ := b.do(t, "GET", string(lib[1]), ""); resp.StatusCode != 200 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET %s: %d %v", lib[1], resp.StatusCode, resp.Header)
	}
	b.wantError(t, "GET", "/ui/nope", "", http.StatusNotFound, CodeNotFound)
	b.wantError(t, "POST", "/", "", http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	b.wantError(t, "GET", "/api/v1/whoami", "", http.StatusUnauthorized, CodeUnauthenticated)
}

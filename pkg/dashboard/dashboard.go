package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// AssetPrefix is the path under which the page's assets are served; the
// apiserver routes it, and "/", to Handler.
const AssetPrefix = "/ui/"

//go:embed static
var static embed.FS

// Security headers of every response. The page runs only its own files:
// no inline script or style, no third-party origin, no framing, and no
// URL of its (a stream's, with its stream token) leaves in a Referer.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; " +
		"form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
}

// Cache policies: an asset's URL names its content, so it never changes;
// the page is revalidated (cheaply, by ETag) so it names the current
// assets.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves the page and its assets.
type handler struct {
	version string // digest of every embedded file
	index   file
	assets  map[string]file // by path under static/, e.g. "app.js", "vendor/uplot/LICENSE"
}

// Handler returns the dashboard's http.Handler: GET or HEAD of "/" is the
// page, AssetPrefix+"<version>/<path>" an asset (a path under static/,
// such as app.js or vendor/uplot/uPlot.min.css); anything else is a JSON
// 404 like the API's.
func Handler() http.Handler {
	h, err := newHandler(static)
	if err != nil {
		panic("dashboard: embedded files: " + err.Error()) // a build mistake
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	var names []string // every file, vendored libraries' included, in lexical order
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	digest := sha256.New()
	h := &handler{assets: map[string]file{}}
	var index []byte
	for _, name := range names {
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, err
		}
		digest.Write([]byte(name))
		digest.Write(body)
		if name == "index.html" {
			index = body
			continue
		}
		h.assets[name] = newFile(body, contentType(name))
	}
	if index == nil {
		return nil, fs.ErrNotExist
	}
	h.version = hex.EncodeToString(digest.Sum(nil))[:12]
	// The page names its assets by version; {{assets}} in index.html
	// stands for AssetPrefix+version+"/".
	h.index = newFile(bytes.ReplaceAll(index, []byte("{{assets}}"), []byte(h.assetBase())),
		"text/html; charset=utf-8")
	return h, nil
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// assetBase is the URL path the current assets live under.
func (h *handler) assetBase() string { return AssetPrefix + h.version + "/" }

// contentType is the type of an asset, by extension. Module scripts must
// be served as JavaScript, or browsers refuse to run them. A vendored
// library's LICENSE is text.
func contentType(name string) string {
	if path.Base(name) == "LICENSE" {
		return "text/plain; charset=utf-8"
	}
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
		return
	}
	if r.URL.Path == "/" {
		serve(w, r, h.index, cacheRevalidate)
		return
	}
	version, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, AssetPrefix), "/")
	f, found := h.assets[name]
	if !ok || !found || !strings.HasPrefix(r.URL.Path, AssetPrefix) {
		writeError(w, http.StatusNotFound, "not_found", "no such dashboard file")
		return
	}
	if version != h.version {
		// A page loaded from an instance of another version (a rolling
		// deploy behind a load balancer) still gets a working file, but
		// one that no cache may keep under the other version's URL.
		serve(w, r, f, "no-store")
		return
	}
	serve(w, r, f, cacheImmutable)
}

// serve answers with f, or 304 when the request's If-None-Match names it.
func serve(w http.ResponseWriter, r *http.Request, f file, cacheControl string) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", cacheControl)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// writeError writes an error in the API's JSON shape; the messages are
// constants, so no escaping is needed.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + msg + `"}}`))
}

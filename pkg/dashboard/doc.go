// Package dashboard is the web dashboard of the job queue: one HTML page,
// its stylesheet and its JavaScript modules, embedded in the binary and
// served by the apiserver at "/" (the page) and under AssetPrefix (the
// assets). There is no build step: the files in static/ are what the
// browser gets.
//
// One library is vendored, in static/vendor/uplot/: uPlot 1.6.32 (charts;
// MIT, its LICENSE beside it), as npm's uplot@1.6.32 package ships it
// (tarball sha1 c800a63b432bad692d6d746f44f0882aa73a49ae), keeping only
// the minified IIFE build, its stylesheet and the license. It draws on
// canvases and styles elements through the CSSOM only, which the page's
// Content Security Policy allows. To update it, replace the three files
// with those of a newer release (npm pack uplot@<version>).
//
// The page holds no data of its own. It calls the HTTP API of docs/api.md
// from the browser with the API key the user types in (kept in the tab's
// sessionStorage): queue stats and workers every two seconds (each stats
// read is also a sample of the overview's charts), the jobs
// list with its filters and cursor paging, and on a job's page the job's
// SSE stream, opened with a short-lived stream token the API mints for
// that job (EventSource cannot set headers, and a key must never go in a
// URL). It asks GET /api/v1/whoami for the
// key's role and disables what the role does not allow.
//
// Asset URLs carry a digest of the embedded files (/ui/<version>/app.js),
// so browsers may cache them for good, while the page itself is
// revalidated on every load and always names the current version.
package dashboard

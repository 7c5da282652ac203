package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/compileo/jobqueue/internal/testmain"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/queue"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

const (
	readSecret  = "dash-read-secret-0123456789"
	adminSecret = "dash-admin-secret-0123456789"
)

// The screenshot's size: small enough for the README, big enough to read.
const screenWidth, screenHeight = 1280, 800

// The dashboard in a real browser: headless Chromium, driven over the
// DevTools protocol, on the whole service (API with keys, real Redis, a
// worker with the built-in handlers). It submits a job with the form and
// watches the bar the SSE stream feeds reach 100, cancels and restarts
// another job with its buttons, checks what a read-only key is offered,
// pages and filters the jobs table, checks the charts drew what the page
// sampled, and saves a screenshot. Nothing the page does may break its
// Content Security Policy (the vendored charting library included).
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	keys, err := api.ParseKeys("viewer:read:" + readSecret + ",ops:admin:" + adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.New(t, &servertest.Options{Keys: keys, Concurrency: 4})

	// Without a key the page says what is missing and offers nothing.
	b.do(chromedp.Navigate(srv.URL + "/"))
	b.waitFor("the notice asking for a key", `byId('notice').textContent.includes('needs an API key') && !byId('notice').hidden`)
	b.waitFor("the role badge to say no access", `byId('role').textContent === 'no access'`)
	if !b.evalBool(`document.querySelector('#submit-form [type=submit]').disabled`) {
		t.Fatal("submit is enabled without a key")
	}
	// Tables that could not load say so, and offer no page to turn to.
	b.waitFor("the tables to say they are not loaded", `['jobs', 'workers', 'queues'].every((id) => byId(id).textContent.includes('not loaded'))`+
		` && byId('page-next').disabled && byId('page-prev').disabled && byId('health').textContent === 'not loaded'`)

	// With the admin key, the stats and workers come live.
	b.useKey(adminSecret, "admin")
	b.waitFor("the live worker in the stats", `document.querySelector('[data-stat=active_workers]').textContent === '1'`)
	b.waitFor("the worker in the workers table", `byId('workers').querySelectorAll('tr').length === 1 && !byId('workers').textContent.includes('no live worker')`)
	b.waitFor("the notice to go", `byId('notice').hidden`)
	b.checkHealthAndColumns()

	// Submit a slow demo job with the form: the page turns to the job,
	// whose bar moves step by step to 100 and whose status ends completed.
	b.do(chromedp.SetValue(chromedp.CSS(`#submit-form [name=steps]`), "5"),
		chromedp.SetValue(chromedp.CSS(`#submit-form [name=step_ms]`), "700"),
		chromedp.Click(chromedp.CSS(`#submit-form [type=submit]`)))
	b.waitFor("the job's page", `location.hash.startsWith('#/jobs/') && byId('job-id').textContent !== ''`)
	demoID := b.evalString(`byId('job-id').textContent`)
	seen := b.watchProgress("completed")
	t.Logf("the bar showed %v", seen)
	if i := slices.IndexFunc(seen, func(v float64) bool { return v > 0 && v < 100 }); i < 0 {
		t.Errorf("the bar went %v: it never showed a value between 0 and 100", seen)
	}
	if !slices.IsSorted(seen) || seen[len(seen)-1] != 100 {
		t.Errorf("the bar went %v: want it to rise to 100", seen)
	}
	wantStatus(t, srv, demoID, queue.StateCompleted)
	b.waitFor("the result", `!byId('job-result-box').hidden && byId('job-result').textContent.includes('"steps": 5')`)
	b.waitFor("the stream to be closed", `byId('job-live').textContent === 'finished'`)
	b.checkResultTools(demoID)
	b.checkChartPoints()
	chunked := submitJSON(t, srv, adminSecret, `{"type":"chunking","payload":{"documents":["One two three four five."],"chunk_size":2,"overlap":0}}`)
	b.showJob(chunked)
	b.waitFor("the chunks as a table of records", `[...byId('job-result-view').querySelectorAll('table.json-records th')].map((th) => th.textContent).join() === 'document_id,index,start,end,text'`+
		` && byId('job-result-view').textContent.includes('five.')`)
	b.checkTimes()

	// Cancel a long job with its button; the API says it is cancelled.
	longID := submit(t, srv, adminSecret, 600, 100)
	b.showJob(longID)
	b.waitFor("the long job to run", `byId('job-status').textContent === 'running' && byId('job-progress').value > 0`)
	b.waitFor("cancel to be offered", `!byId('job-cancel').hidden && !byId('job-cancel').disabled`)
	b.do(chromedp.Click(chromedp.ID("job-cancel")))
	b.waitFor("the page to show cancelled", `byId('job-status').textContent === 'cancelled'`)
	wantStatus(t, srv, longID, queue.StateCancelled)
	b.waitFor("restart to be offered", `!byId('job-restart').hidden && !byId('job-restart').disabled && byId('job-cancel').hidden`)
	// Restart it with its button: the page follows the new run live; then
	// cancel it again for good.
	b.do(chromedp.Click(chromedp.ID("job-restart")))
	b.waitFor("the restarted job to run live", `byId('job-status').textContent === 'running' && byId('job-live').textContent.includes('live') && byId('job-restart').hidden`)
	b.do(chromedp.Click(chromedp.ID("job-cancel")))
	b.waitFor("the page to show cancelled again", `byId('job-status').textContent === 'cancelled'`)
	if j := wantStatus(t, srv, longID, queue.StateCancelled); j.Restarts != 1 {
		t.Errorf("the long job has %d restarts, want 1", j.Restarts)
	}

	// A read-only key follows a running job live, but may not cancel it
	// nor submit.
	otherID := submit(t, srv, adminSecret, 600, 100)
	b.useKey(readSecret, "read")
	b.showJob(otherID)
	b.waitFor("the read-only key's live view", `byId('job-status').textContent === 'running' && byId('job-live').textContent.includes('live')`)
	b.waitFor("cancel to be disabled", `!byId('job-cancel').hidden && byId('job-cancel').disabled && byId('job-cancel').title.includes('admin')`)
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
	b.waitFor("the overview", `!byId('overview-view').hidden`)
	b.waitFor("submit to be disabled", `document.querySelector('#submit-form [type=submit]').disabled`)
	wantStatus(t, srv, otherID, queue.StateRunning)

	// The jobs table: a status filter, and paging by cursor.
	b.useKey(adminSecret, "admin")
	b.do(chromedp.SetValue(chromedp.CSS(`#filters [name=status]`), "cancelled"),
		chromedp.Click(chromedp.CSS(`#filters [type=submit]`)))
	b.waitFor("only the cancelled job", fmt.Sprintf(`location.hash.includes('status=cancelled') && rowIDs().join() === %q`, longID))
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/?limit=1'`))
	b.waitFor("a page of one job", `rowIDs().length === 1 && !byId('page-next').disabled && byId('page-prev').disabled`)
	first := b.evalString(`rowIDs()[0]`)
	b.do(chromedp.Click(chromedp.ID("page-next")))
	b.waitFor("the second page", fmt.Sprintf(`byId('page-number').textContent === 'page 2' && rowIDs().length === 1 && rowIDs()[0] !== %q`, first))
	b.do(chromedp.Click(chromedp.ID("page-prev")))
	b.waitFor("the first page again", fmt.Sprintf(`byId('page-number').textContent === 'page 1' && rowIDs()[0] === %q`, first))

	// The screenshot: the overview with jobs in several states.
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
	b.waitFor("the full table", `rowIDs().length === 4 && byId('jobs').textContent.includes('running')`)
	b.checkCharts(srv)
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.saveScreenshot()
	b.checkConsole()
}

// browser is one headless Chromium tab, and what the page reported on its
// console that a test must not accept.
type browser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

// startBrowser starts headless Chromium for the test and stops it (and
// waits for its process) at cleanup. Without Chromium the test fails in
// CI, which installs it; on a developer's machine it skips.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed (scripts/test.sh installs Debian's chromium): %v", err)
		}
		t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	}
	// The browser's whole life is bounded, so a page that never gets
	// where the test waits fails the test rather than hanging CI.
	life, cancelLife := context.WithTimeout(context.Background(), 2*time.Minute)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.DisableGPU,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.WindowSize(screenWidth, screenHeight))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		wg.Wait()
		cancelAlloc() // kills the browser and waits for it
		cancelLife()
	})
	// The first action starts the browser. The viewport is set, not left
	// to the window size, which headless Chromium shares with its frame.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(screenWidth, screenHeight)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// An exception or a refused script or style is a bug of the page,
	// whatever the test checks.
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	})
	return b
}

// do runs actions, each bounded so a missing element fails the test.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// helpers are defined in the page before each expression the test
// evaluates.
const helpers = `const byId = (id) => document.getElementById(id);
const rowIDs = () => [...document.querySelectorAll('#jobs tr[data-job]')].map((tr) => tr.dataset.job);
`

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T]("(() => {"+helpers+"return ("+expr+");})()"))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) evalBool(expr string) bool     { return eval[bool](b, expr) }
func (b *browser) evalString(expr string) string { return eval[string](b, expr) }

// waitFor waits until the expression is true in the page. The page
// updates on its own (streams, two-second refreshes), so the wait is
// generous; what it waits for is named in the failure.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 40*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void]("(() => {"+helpers+"return ("+expr+");})()",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		b.t.Fatalf("waiting for %s (%s): %v\nnotice: %q", what, expr, err,
			eval[string](b, `byId('notice').textContent`))
	}
}

// useKey types the key into the header's form and waits for its role.
func (b *browser) useKey(secret, role string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.ID("api-key"), secret),
		chromedp.Click(chromedp.CSS(`#key-form [type=submit]`)))
	b.waitFor("the role "+role, fmt.Sprintf(`byId('role').textContent === %q`, role))
}

// showJob opens a job's page as a link would.
func (b *browser) showJob(id string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/jobs/%s'`, id)))
	b.waitFor("the job's page", fmt.Sprintf(`byId('job-id').textContent === %q && byId('job-status').textContent !== '…'`, id))
}

// watchProgress samples the job page's bar until the job reaches status,
// and returns the distinct values it showed, in order.
func (b *browser) watchProgress(status string) []float64 {
	b.t.Helper()
	var seen []float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		var s struct {
			Value  float64 `json:"value"`
			Status string  `json:"status"`
		}
		raw := b.evalString(`JSON.stringify({value: byId('job-progress').value, status: byId('job-status').textContent})`)
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			b.t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != s.Value {
			seen = append(seen, s.Value)
		}
		if s.Status == status && s.Value == 100 {
			return seen
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the bar showed %v and the status is %s: want %s at 100", seen, s.Status, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saveScreenshot saves the page as it looks. CI (CI set) and a developer
// who asks (DASHBOARD_SCREENSHOT=1) refresh docs/dashboard.png, the
// README's picture; otherwise it goes to the test's artifact directory
// (kept with go test -artifacts), so plain test runs leave the work tree
// clean.
func (b *browser) saveScreenshot() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	img, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil || img.Width != screenWidth || img.Height != screenHeight {
		b.t.Fatalf("screenshot: %dx%d, %v; want a %dx%d PNG", img.Width, img.Height, err, screenWidth, screenHeight)
	}
	path := filepath.Join(b.t.ArtifactDir(), "dashboard.png")
	if os.Getenv("CI") != "" || os.Getenv("DASHBOARD_SCREENSHOT") != "" {
		path = filepath.Join("..", "..", "docs", "dashboard.png")
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s (%d KiB)", path, len(shot)/1024)
}

// checkConsole fails the test on any exception or CSP refusal the page
// reported.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("the page's console: %s", p)
	}
}

// submit submits a demo job through the API with the given key.
func submit(t *testing.T, srv *servertest.Server, key string, steps, stepMS int) string {
	t.Helper()
	return submitJSON(t, srv, key, fmt.Sprintf(`{"type":"demo","payload":{"steps":%d,"step_ms":%d}}`, steps, stepMS))
}

// submitJSON submits a job, given as the request's JSON body, through the
// API with the given key.
func submitJSON(t *testing.T, srv *servertest.Server, key, body string) string {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/jobs", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Close = true // no idle connection left behind for goleak
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		JobID string `json:"job_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %v", resp.StatusCode, err)
	}
	return out.JobID
}

// wantStatus checks a job's state behind the API, and returns the job.
func wantStatus(t *testing.T, srv *servertest.Server, id string, want queue.State) *queue.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := srv.Queue.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != want {
		t.Fatalf("job %s is %s, want %s", id, j.Status, want)
	}
	return j
}

// checkHealthAndColumns checks the overview once data came: the health
// badge says why in words beside it (not only on hover), the CPU is said
// to be the hosts', and every numeric column is aligned as its header is.
func (b *browser) checkHealthAndColumns() {
	b.t.Helper()
	b.waitFor("the health's reasons", `byId('health').textContent === 'healthy' && byId('health-reason').textContent.includes('worker alive')`+
		` && byId('health-details').textContent.includes('host CPU at') && byId('health-details').textContent.includes('limits inactive')`)
	b.waitFor("the CPU labels", `document.querySelector('[data-stat=cpu_usage_percent]').previousElementSibling.textContent === 'host CPU %'`+
		` && document.querySelector('[data-stat=workers_cpu_percent]').textContent !== '–'`)
	misaligned := b.evalString(`[...document.querySelectorAll('th.num, td.num')].filter((e) => e.offsetParent !== null && getComputedStyle(e).textAlign !== 'right').map((e) => e.textContent).join(' | ')`)
	if n := eval[int](b, `[...document.querySelectorAll('th.num, td.num')].filter((e) => e.offsetParent !== null).length`); misaligned != "" || n < 10 {
		b.t.Errorf("numeric cells not aligned right: %q (of %d)", misaligned, n)
	}
	// A header and the cells under it line up on their right edges.
	if !b.evalBool(`(() => { const th = [...document.querySelectorAll('#workers')].map((tb) => tb.closest('table').querySelectorAll('th'))[0];
		const td = byId('workers').querySelector('tr').children; let ok = true;
		for (let i = 0; i < th.length; i++) if (th[i].classList.contains('num') && Math.abs(th[i].getBoundingClientRect().right - td[i].getBoundingClientRect().right) > 1) ok = false;
		return ok; })()`) {
		b.t.Error("the workers table's numbers do not line up with their headers")
	}
}

// checkResultTools checks a finished job's result box: a rendered view by
// default, the JSON on demand, and copy and download buttons that hand
// over the JSON itself.
func (b *browser) checkResultTools(id string) {
	b.t.Helper()
	b.waitFor("the rendered result", `!byId('job-result-view').hidden && byId('job-result').hidden`+
		` && [...byId('job-result-view').querySelectorAll('th')].map((th) => th.textContent).join() === 'steps,step_ms'`+
		` && byId('job-result-view').querySelector('td.num').textContent === '5'`)
	b.do(chromedp.Click(chromedp.CSS(`#job-result-box [data-act=json]`)))
	b.waitFor("the JSON view", `byId('job-result-view').hidden && !byId('job-result').hidden`)
	b.do(chromedp.Click(chromedp.CSS(`#job-result-box [data-act=table]`)))
	b.waitFor("the table view again", `!byId('job-result-view').hidden && byId('job-result').hidden`)
	want := b.evalString(`byId('job-result').textContent`)

	// Copy: what the page hands the clipboard is the JSON.
	b.do(chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = (text) => { window.copied = text; return Promise.resolve(); }`),
		chromedp.Click(chromedp.CSS(`#job-result-box [data-act=copy]`)))
	b.waitFor("the copy", `window.copied !== undefined && document.querySelector('#job-result-box [data-act=copy]').textContent === 'Copied'`)
	if got := b.evalString(`window.copied`); got != want {
		b.t.Errorf("copied %q, want %q", got, want)
	}

	// Download: a file named after the job, holding the JSON.
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	begin := chromedp.Events(ctx, cdpbrowser.DownloadWillBegin)
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)})
		return err
	}), chromedp.Click(chromedp.CSS(`#job-result-box [data-act=download]`)))
	for ev, err := range begin {
		if err != nil {
			b.t.Fatalf("download: %v", err)
		}
		if want := "job-" + id + "-result.json"; ev.SuggestedFilename != want {
			b.t.Errorf("download named %q, want %q", ev.SuggestedFilename, want)
		}
		break
	}
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			b.t.Fatal("the download was cancelled")
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil || strings.TrimSpace(string(got)) != want {
			b.t.Errorf("downloaded %q (%v), want %q", got, err, want)
		}
		break
	}
}

// checkTimes checks how the page writes times: a time of today as the
// time alone, an older one with its date.
func (b *browser) checkTimes() {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`import(document.querySelector('script[type=module]').src.replace(/app\.js$/, 'dom.js')).then((m) => {
		const old = new Date(Date.now() - 3 * 86400e3);
		window.times = {old: m.fmtTime(old.toISOString()), oldDate: old.toLocaleDateString(), now: m.fmtTime(new Date().toISOString()), today: new Date().toLocaleDateString()};
	})`))
	b.waitFor("the times", `window.times !== undefined`)
	if !b.evalBool(`times.old.includes(times.oldDate) && !times.now.includes(times.today)`) {
		b.t.Errorf("times: %s", b.evalString(`JSON.stringify(times)`))
	}
}

// checkChartPoints checks what the charts draw from a history answer, on
// a copy of their module of its own (another URL): each step's counts,
// depths and p95s, and the live depths of the stats standing for the
// current step's.
func (b *browser) checkChartPoints() {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`import(document.querySelector('script[type=module]').src.replace(/app\.js$/, 'charts.js?probe')).then((m) => {
		const p = (at, completed, failed, pending, wait, run) => ({ at, submitted: 0, started: 0, completed, failed,
			cancelled: 0, retried: 0, pending, running: 1, wait_ms: { p50: 0, p95: wait, p99: 0 }, run_ms: { p50: 0, p95: run, p99: 0 } });
		const h = { step_seconds: 60, points: [p('2030-01-01T00:00:00.000Z', 3, 1, 7, 2.5, 100), p('2030-01-01T00:01:00.000Z', 0, 0, 4, 0, 0)] };
		const show = (pts) => pts.map((q) => [q.t, q.completed, q.failed, q.pending, q.running, q.waitP95, q.runP95].join('/')).join(' ');
		window.probePoints = show(m.points(h, null)) + ' | ' + show(m.points(h, { pending: 9, running: 2 }));
	})`))
	b.waitFor("the probe's points", `window.probePoints !== undefined`)
	want := "1893456000/3/1/7/1/2.5/100 1893456060/0/0/4/1/0/0 | 1893456000/3/1/7/1/2.5/100 1893456060/0/0/9/2/0/0"
	if got := b.evalString(`probePoints`); got != want {
		b.t.Errorf("chart points %q, want %q", got, want)
	}
}

// checkCharts checks the overview's charts: uPlot drew the three on
// canvases, from the history of the last hour (the jobs this test ran
// completed in it, so their runs have a p95) and the live depths (a job
// runs), in the series' colours; then the last 30 days, by hour.
func (b *browser) checkCharts(srv *servertest.Server) {
	b.t.Helper()
	b.waitFor("the three charts drawn", `document.querySelectorAll('.chart-box .uplot canvas').length === 3`+
		` && byId('chart-depth').textContent.includes('running') && byId('chart-latency').textContent.includes('run p95')`)
	b.do(chromedp.Evaluate[chromedp.Void](`import(document.querySelector('script[type=module]').src.replace(/app\.js$/, 'charts.js')).then((m) => { window.chartsModule = m; })`))
	b.waitFor("the history of completed jobs, and a running one", `window.chartsModule !== undefined`+
		` && chartsModule.points().some((p) => p.completed > 0) && chartsModule.points().some((p) => p.running > 0)`+
		` && chartsModule.points().some((p) => p.runP95 > 0) && chartsModule.points().length === 60`)
	// Pixels of a series' colour (its line), at full opacity.
	const pixels = `((id, v) => { const hex = getComputedStyle(document.documentElement).getPropertyValue(v).trim();
		const want = [1, 3, 5].map((i) => parseInt(hex.substr(i, 2), 16));
		const c = document.querySelector('#' + id + ' canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && want.every((w, k) => Math.abs(d[i + k] - w) < 24)) n++;
		return n; })`
	b.waitFor("the completed line", pixels+`('chart-throughput', '--ok') > 20`)
	b.waitFor("the running line", pixels+`('chart-depth', '--run') > 20`)
	b.waitFor("the run p95 line", pixels+`('chart-latency', '--run') > 20`)
	// The last 30 days, by hour: this hour's jobs in its last point.
	b.do(chromedp.SetValue(chromedp.CSS(`#chart-filters [name=range]`), "month"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('chart-filters').dispatchEvent(new Event('change'))`))
	b.waitFor("720 hours, the last with the jobs", `chartsModule.points().length === 720 && chartsModule.points()[719].completed > 0`+
		` && byId('chart-step').textContent === 'per hour'`)
	b.waitFor("the completed line by hour", pixels+`('chart-throughput', '--ok') > 20`)
	// A type no job has: nothing completed.
	b.do(chromedp.SetValue(chromedp.CSS(`#chart-filters [name=type]`), "nothing.here"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('chart-filters').dispatchEvent(new Event('change'))`))
	b.waitFor("no job of that type", `chartsModule.points().length === 720 && chartsModule.points().every((p) => p.completed === 0)`)
	b.do(chromedp.Evaluate[chromedp.Void](`{ const f = document.getElementById('chart-filters');
		f.elements.type.value = ''; f.elements.range.value = 'hour'; f.dispatchEvent(new Event('change')); }`))
	b.waitFor("the last hour again", `chartsModule.points().length === 60 && chartsModule.points().some((p) => p.completed > 0)`)
	b.waitFor("the completed line by minute", pixels+`('chart-throughput', '--ok') > 20`)
}

func ptr[T any](v T) *T { return &v }

// The schedules panel: an admin creates a schedule with its form, sees
// it tick (its next run, its last job), pauses, resumes and deletes it
// with the row's buttons; a read-only key sees the buttons disabled.
func TestSchedulesPanelInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	keys, err := api.ParseKeys("viewer:read:" + readSecret + ",ops:admin:" + adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.New(t, &servertest.Options{Keys: keys, Concurrency: 2})
	b.do(chromedp.Navigate(srv.URL + "/"))
	b.useKey(adminSecret, "admin")
	b.waitFor("the empty schedules table", `byId('schedules').textContent.includes('no schedule')`)
	b.do(chromedp.SetValue(chromedp.CSS(`#schedule-form [name=name]`), "every-second"),
		chromedp.SetValue(chromedp.CSS(`#schedule-form [name=when]`), "1"),
		chromedp.SetValue(chromedp.CSS(`#schedule-form [name=payload]`), `{"steps": 1, "step_ms": 1}`),
		chromedp.Click(chromedp.CSS(`#schedule-form [type=submit]`)))
	row := `document.querySelector('#schedules tr[data-schedule="every-second"]')`
	b.waitFor("the schedule's row", row+` !== null && `+row+`.textContent.includes('every 1 s')`)
	b.waitFor("a tick and its job", row+`.querySelector('a[href^="#/jobs/"]') !== null`)
	b.do(chromedp.Click(chromedp.CSS(`#schedules tr[data-schedule="every-second"] button[data-act=pause]`)))
	b.waitFor("paused", row+`.querySelector('.next-run').textContent === 'paused'`)
	if s, err := srv.Queue.GetSchedule(b.ctx, "every-second"); err != nil || !s.Paused {
		t.Fatalf("after pause: %+v %v", s, err)
	}
	b.do(chromedp.Click(chromedp.CSS(`#schedules tr[data-schedule="every-second"] button[data-act=resume]`)))
	b.waitFor("resumed", row+`.querySelector('.next-run').textContent !== 'paused'`)

	b.useKey(readSecret, "read")
	b.waitFor("the buttons disabled for a read key", row+` !== null && [...`+row+`.querySelectorAll('button')].every((x) => x.disabled)`+
		` && document.querySelector('#schedule-form [type=submit]').disabled`)

	b.useKey(adminSecret, "admin")
	b.waitFor("the buttons enabled again", row+` !== null && !`+row+`.querySelector('button[data-act=delete]').disabled`)
	b.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS(`#schedules tr[data-schedule="every-second"] button[data-act=delete]`)))
	b.waitFor("the schedule gone", row+` === null`)
	if _, err := srv.Queue.GetSchedule(b.ctx, "every-second"); err == nil {
		t.Fatal("the schedule is still there")
	}
	b.checkConsole()
}

// The queues table: an admin pauses a queue with its row's button (the
// engine then holds it paused) and resumes it.
func TestQueuePauseInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	srv := servertest.New(t, &servertest.Options{Concurrency: -1})
	if _, err := srv.Queue.Enqueue(b.ctx, queue.EnqueueParams{Type: "demo", Queue: "held"}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL + "/"))
	row := `document.querySelector('#queues tr[data-queue="held"]')`
	b.waitFor("the queue's row", row+` !== null && `+row+`.querySelector('button[data-act=pause]') !== null`)
	b.do(chromedp.Click(chromedp.CSS(`#queues tr[data-queue="held"] button[data-act=pause]`)))
	b.waitFor("paused", row+` !== null && `+row+`.textContent.includes('paused')`)
	if p, err := srv.Queue.PausedQueues(b.ctx); err != nil || len(p) != 1 || p[0] != "held" {
		t.Fatalf("after pause: %v %v", p, err)
	}
	b.do(chromedp.Click(chromedp.CSS(`#queues tr[data-queue="held"] button[data-act=resume]`)))
	b.waitFor("resumed", row+` !== null && `+row+`.querySelector('button[data-act=pause]') !== null`)
	if p, err := srv.Queue.PausedQueues(b.ctx); err != nil || len(p) != 0 {
		t.Fatalf("after resume: %v %v", p, err)
	}
	b.checkConsole()
}

// A rate-limited type shows under the queues, saying when its jobs wait.
func TestRateLimitsInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	srv := servertest.New(t, &servertest.Options{Concurrency: -1})
	if err := srv.Queue.SetTypeRate(b.ctx, queue.TypeRate{Type: "demo", Rate: 1, Per: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := srv.Queue.Enqueue(b.ctx, queue.EnqueueParams{Type: "demo"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Queue.Lease(b.ctx, queue.LeaseParams{WorkerID: "w", Types: []string{"demo"}, Max: 2, Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL + "/"))
	row := `document.querySelector('#rate-limits tr[data-type="demo"]')`
	b.waitFor("the rate limit's row", row+` !== null && `+row+`.textContent.includes('jobs wait') && `+
		`!byId('rate-limits-table').hidden`)
	b.checkConsole()
}

// A job's page shows its log: the lines kept, then each new one live,
// until the job ends.
func TestJobLogInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	keys, err := api.ParseKeys("ops:admin:" + adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.New(t, &servertest.Options{Keys: keys, Concurrency: -1})
	ctx := b.ctx
	q := srv.Queue
	// A job of a type no built-in handler runs, leased by the test itself.
	e, err := q.Enqueue(ctx, queue.EnqueueParams{Type: "logger"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Lease(ctx, queue.LeaseParams{WorkerID: "t", Types: []string{"logger"}, Max: 1, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatal(err, res)
	}
	token := res.Jobs[0].Token
	if err := q.AppendLog(ctx, e.ID, token, []queue.LogLine{{Level: queue.LogWarn, Message: "kept <b>line</b>"}}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL + "/"))
	b.useKey(adminSecret, "admin")
	b.showJob(e.ID)
	lines := `[...byId('job-log').querySelectorAll('.log-line')]`
	b.waitFor("the kept line", lines+`.map((l) => l.textContent).join('|').endsWith('warn kept <b>line</b>')`+
		` && byId('job-log').querySelector('.level-warn b') === null`)
	if err := q.AppendLog(ctx, e.ID, token, []queue.LogLine{{Level: queue.LogError, Message: "live line"}}); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the live line", lines+`.length === 2 && `+lines+`[1].classList.contains('level-error') && `+lines+`[1].textContent.endsWith('error live line')`)
	if err := q.CompleteLease(ctx, e.ID, token, ""); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the finished job, its log whole", `byId('job-status').textContent === 'completed' && `+lines+`.length === 2`)
	// A finished job's page reads the kept lines.
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
	b.showJob(e.ID)
	b.waitFor("the kept lines of a finished job", lines+`.length === 2`)
	b.checkConsole()
}

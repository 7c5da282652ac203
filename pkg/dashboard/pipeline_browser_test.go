package dashboard_test

import (
	"encoding/json"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/queue"
)

// A pipeline's page whose stream cannot be had (here the browser's
// EventSource fails at once) reads the pipeline every second instead,
// and still follows it to its end.
func TestPipelineGraphPollsWithoutItsStream(t *testing.T) {
	t.Parallel()
	b, srv := pipelinePage(t)
	b.do(chromedp.Navigate(srv.URL + "/"))
	b.useKey(adminSecret, "admin")
	// An EventSource that the server refuses at once, as a proxy that
	// cuts streams would.
	b.do(chromedp.Evaluate[chromedp.Void](`window.EventSource = class {
		static CLOSED = 2;
		constructor() { this.readyState = 2; setTimeout(() => this.onerror && this.onerror(), 10); }
		close() {}
	}`))
	p, err := srv.Queue.SubmitPipeline(b.ctx, queue.PipelineParams{Jobs: []queue.PipelineJob{
		demo("parse"), demo("chunk", "parse"), demo("dataset", "chunk")}})
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/pipelines/` + p.ID + `'`))
	b.waitFor("the pipeline read every second", `byId('pipeline-live').textContent === '↻ read every second'`)
	b.waitFor("every job completed", `[...document.querySelectorAll('#pipeline-graph a.node')].every((n) => n.dataset.status === 'completed')`+
		` && byId('pipeline-status').textContent === 'completed'`)
	b.checkConsole()
}

// A pipeline's page draws its jobs as a graph whose colours follow them
// live over the pipeline's stream (opened with a stream token: API keys
// are on), links each box to its job, and each job of it links back.
func TestPipelineGraphInBrowser(t *testing.T) {
	t.Parallel()
	b, srv := pipelinePage(t)
	p, err := srv.Queue.SubmitPipeline(b.ctx, queue.PipelineParams{Jobs: []queue.PipelineJob{
		demo("parse"), demo("chunk", "parse"), demo("taxonomy", "chunk"), demo("dataset", "chunk", "taxonomy")}})
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL + "/#/pipelines/" + p.ID))
	b.useKey(adminSecret, "admin")
	node := func(key string) string {
		return `document.querySelector('#pipeline-graph a.node[data-key="` + key + `"]')`
	}
	b.waitFor("the graph's four jobs and four arrows", `document.querySelectorAll('#pipeline-graph a.node').length === 4`+
		` && document.querySelectorAll('#pipeline-graph line.edge').length === 4`)
	b.waitFor("a job waiting while the first runs", node("dataset")+`.dataset.status === 'waiting'`)
	b.waitFor("the pipeline's stream followed", `byId('pipeline-live').textContent === '● live'`)
	b.waitFor("every job completed, live", `[...document.querySelectorAll('#pipeline-graph a.node')].every((n) => n.dataset.status === 'completed')`+
		` && byId('pipeline-status').textContent === 'completed' && byId('pipeline-percent').textContent === '100%'`)
	b.do(chromedp.Click(chromedp.CSS(`#pipeline-graph a.node[data-key="taxonomy"]`)))
	b.waitFor("the job's page, linking back", `!byId('job-view').hidden && byId('job-id').textContent === '`+p.Jobs["taxonomy"]+`'`+
		` && document.querySelector('#job-fields a[href^="#/pipelines/"]') !== null`)
	b.checkConsole()
}

// pipelinePage starts a browser and a server with API keys on (its
// pages open streams with stream tokens), whose workers run demo jobs.
func pipelinePage(t *testing.T) (*browser, *servertest.Server) {
	t.Helper()
	b := startBrowser(t)
	keys, err := api.ParseKeys("ops:admin:" + adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	return b, servertest.New(t, &servertest.Options{Keys: keys, Concurrency: 4})
}

// demo is a pipeline job of the demo type, of four 150 ms steps.
func demo(key string, deps ...string) queue.PipelineJob {
	return queue.PipelineJob{Key: key, DependsOn: deps, EnqueueParams: queue.EnqueueParams{Type: "demo",
		Payload: json.RawMessage(`{"steps": 4, "step_ms": 150}`)}}
}

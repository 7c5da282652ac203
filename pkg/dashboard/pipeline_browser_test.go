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
	b := startBrowser(t)
	keys, err := api.ParseKeys("ops:admin:" + adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.New(t, &servertest.Options{Keys: keys, Concurrency: 4})
	demo := func(key string, deps ...string) queue.PipelineJob {
		return queue.PipelineJob{Key: key, DependsOn: deps, EnqueueParams: queue.EnqueueParams{Type: "demo",
			Payload: json.RawMessage(`{"steps": 4, "step_ms": 150}`)}}
	}
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

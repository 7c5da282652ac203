package faults

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
)

// A pipeline's callback survives the SIGKILL of the apiserver and the
// worker, one of them in the middle of the attempt: it arrives again,
// signed, with the same delivery id (the pipeline's, "<id>.<version>")
// and the same body, the pipeline's record as it ended.
func TestPipelineWebhookSurvivesCrashes(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1,
		APIEnv: hookEnv, WorkerEnv: hookEnv})
	apiA, workerA := cl.APIs()[0], cl.Workers()[0]
	rc, release := firstPostHangs()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	serveReceiver(t, rc, port)

	var created struct {
		PipelineID string `json:"pipeline_id"`
	}
	code, _ := clustertest.PostJSON(t, apiA.URL+"/api/v1/pipelines", `{"callback_url": "http://127.0.0.1:`+
		strconv.Itoa(port)+`/pipeline", "jobs": [{"key": "a", "type": "demo", "payload": {"steps": 1, "step_ms": 1}},
		{"key": "b", "type": "demo", "payload": {"steps": 1, "step_ms": 1}, "depends_on": ["a"]}]}`, &created)
	if code != http.StatusCreated {
		t.Fatalf("submit pipeline: %d", code)
	}
	pid := created.PipelineID
	apiB := killMidAttempt(t, cl, apiA, workerA, rc, release)
	waitArrival(t, rc, 2)
	var rec struct {
		Status string `json:"status"`
		CB     struct {
			DeliveryID string `json:"delivery_id"`
			State      string `json:"state"`
			Tries      int    `json:"tries"`
		} `json:"callback"`
	}
	proctest.WaitFor(t, 30*time.Second, "the pipeline's delivery recorded as delivered", func() bool {
		clustertest.GetJSON(t, apiB.URL+"/api/v1/pipelines/"+pid, &rec)
		return rec.CB.State == "delivered"
	})
	rc.wantOneDelivery(t, rec.CB.DeliveryID, pid, `"pipeline_id":"`+pid+`"`, `"status":"completed"`)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t.Logf("pipeline callback: %d POSTs received, all with delivery id %s; %d attempts recorded",
		len(rc.got), rec.CB.DeliveryID, rec.CB.Tries)
	if rec.Status != "completed" || rec.CB.Tries < 1 {
		t.Fatalf("pipeline %+v", rec)
	}
}

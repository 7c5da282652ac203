package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// productPipeline is the product's four stages as one pipeline: each
// stage takes its documents from its parents' results.
const productPipeline = `{"jobs": [
  {"key": "parse", "type": "document_parsing", "payload": {"documents": [
    {"id": "guide", "text": "A queue is a list of jobs waiting to run. Workers take jobs from the queue and run them. Redis keeps the queue of jobs in memory. A worker reports the progress of each job."},
    {"id": "faq", "text": "A lease is a promise that a worker runs a job. When a worker stops, its lease expires and the job runs again."}]}},
  {"key": "chunk", "type": "chunking", "payload": {"chunk_size": 12, "overlap": 2}, "depends_on": ["parse"]},
  {"key": "taxonomy", "type": "taxonomy_generation", "payload": {"max_categories": 3}, "depends_on": ["chunk"]},
  {"key": "dataset", "type": "dataset_generation", "payload": {"format": "qa"}, "depends_on": ["chunk", "taxonomy"]}]}`

// TestProductPipeline runs parse → chunk → taxonomy → dataset on real
// processes: submitted to one apiserver, streamed from the other to its
// end, each stage run by a worker on its parents' results.
func TestProductPipeline(t *testing.T) {
	productPipelineFlow(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2}))
}

// TestProductPipelineOnShardedRedisCluster is TestProductPipeline on a
// 3-master Redis Cluster with the jobs sharded over 6 hash tags.
func TestProductPipelineOnShardedRedisCluster(t *testing.T) {
	productPipelineFlow(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2,
		Redis: clustertest.RedisCluster, Shards: 6}))
}

func productPipelineFlow(t *testing.T, cl *clustertest.Cluster) {
	a, b := cl.APIs()[0].URL, cl.APIs()[1].URL
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var created struct {
		ID   string            `json:"pipeline_id"`
		Jobs map[string]string `json:"jobs"`
	}
	if code, _ := postJSON(t, a+"/api/v1/pipelines", productPipeline, &created); code != 201 {
		t.Fatalf("submit: %d", code)
	}
	evs := stream(t, ctx, b+"/api/v1/pipelines/"+created.ID+"/stream", "")
	if len(evs) == 0 || evs[len(evs)-1].Data["pipeline_id"] != created.ID || evs[len(evs)-1].Data["status"] != "completed" {
		t.Fatalf("stream ended with %v", evs)
	}
	var p struct {
		Status string `json:"status"`
		Jobs   []struct {
			Key    string `json:"key"`
			Status string `json:"status"`
		} `json:"jobs"`
	}
	getJSON(t, a+"/api/v1/pipelines/"+created.ID, &p)
	if p.Status != "completed" || len(p.Jobs) != 4 {
		t.Fatalf("pipeline %+v", p)
	}
	var ds struct {
		PipelineID string `json:"pipeline_id"`
		Result     struct {
			Count    int `json:"count"`
			Examples []struct {
				DocumentID string `json:"document_id"`
				Category   string `json:"category"`
			} `json:"examples"`
		} `json:"result"`
	}
	getJSON(t, b+"/api/v1/jobs/"+created.Jobs["dataset"], &ds)
	categorized := 0
	for _, ex := range ds.Result.Examples {
		if !strings.Contains(ex.DocumentID, "#") {
			t.Fatalf("example of %q: want a chunk of a parsed document", ex.DocumentID)
		}
		if ex.Category != "" {
			categorized++
		}
	}
	if ds.PipelineID != created.ID || ds.Result.Count == 0 || categorized == 0 {
		raw, _ := json.Marshal(ds)
		t.Fatalf("dataset %s", raw)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestPipelineCommands(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.json")
	body := `{"jobs": [
		{"key": "parse", "type": "document_parsing", "payload": {"documents": ["Redis keeps the queue. Workers take jobs from the queue."]}},
		{"key": "chunk", "type": "chunking", "payload": {"chunk_size": 5}, "depends_on": ["parse"]},
		{"key": "taxonomy", "type": "taxonomy_generation", "depends_on": ["chunk"]},
		{"key": "dataset", "type": "dataset_generation", "depends_on": ["chunk", "taxonomy"]}]}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := jobctl(t, env, "pipeline", "submit", file, "--watch")
	r.want(t, exitOK, `(?s)^pipeline [0-9a-f-]{36}\n  parse .*dataset .*\ndataset +completed +100%\n.*pipeline completed\n$`)
	var created map[string]any
	r = jobctl(t, env, "pipeline", "submit", file, "--json")
	if json.Unmarshal([]byte(r.stdout), &created) != nil || created["pipeline_id"] == nil {
		t.Fatalf("submit --json: %+v", r)
	}
	id := created["pipeline_id"].(string)
	jobctl(t, env, "pipeline", "get", id).want(t, exitOK, `(?m)^status +(running|completed)`)
	if err := os.WriteFile(file, []byte(`{"jobs": [{"key": "a", "type": "demo", "depends_on": ["a"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	jobctl(t, env, "pipeline", "submit", file).want(t, exitRefused, `^$`)
	jobctl(t, env, "pipeline", "restart", id).want(t, exitRefused, `^$`)
	if err := os.WriteFile(file, []byte(`{"jobs": [{"key": "slow", "type": "demo", "payload": {"steps": 100, "step_ms": 100}}, {"key": "after", "type": "demo", "depends_on": ["slow"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = jobctl(t, env, "pipeline", "submit", file, "--json")
	if json.Unmarshal([]byte(r.stdout), &created) != nil {
		t.Fatalf("submit --json: %+v", r)
	}
	slow := created["pipeline_id"].(string)
	jobctl(t, env, "pipeline", "cancel", slow).want(t, exitOK, `^Pipeline `+slow+` cancelled\n$`)
	jobctl(t, env, "pipeline", "get", slow).want(t, exitOK, `(?m)^status +cancelled`)
	jobctl(t, env, "pipeline", "restart", slow).want(t, exitOK, `^Pipeline `+slow+` restarted\n$`)
	jobctl(t, env, "pipeline", "cancel", slow).want(t, exitOK, `cancelled`)
	jobctl(t, env, "pipeline", "get", "123e4567-e89b-12d3-a456-426614174000").want(t, exitRefused, `^$`)
	jobctl(t, env, "pipeline", "explode", id).want(t, exitUsage, `^$`)
	jobctl(t, env, "pipeline").want(t, exitUsage, `^$`)
}

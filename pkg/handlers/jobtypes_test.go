package handlers

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/handlers/jobtypes"
)

// TestJobTypesDescribeTheHandlers holds the description of the built-in
// types (package jobtypes, from which the docs, the OpenAPI schemas and
// `jobctl types` come) to the handlers: every type is described, each
// documented payload field is one the handler knows, each example payload
// gives exactly the example result, and that result has no field the
// description leaves out.
func TestJobTypesDescribeTheHandlers(t *testing.T) {
	var names []string
	for _, jt := range jobtypes.All() {
		names = append(names, jt.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, Types()) {
		t.Fatalf("jobtypes describes %v, the handlers are %v", names, Types())
	}
	for _, jt := range jobtypes.All() {
		t.Run(jt.Name, func(t *testing.T) {
			documented := map[string]bool{}
			for _, f := range jt.Payload {
				documented[f.Path] = true
				if strings.Contains(f.Path, "[]") {
					continue
				}
				// A field the handler knows is refused for its value (an
				// object fits none), not as an unknown field.
				err := Validate(jt.Name, json.RawMessage(`{"`+f.Path+`": {"x": 1}}`))
				if err == nil || strings.Contains(err.Error(), "unknown field") {
					t.Errorf("payload field %s: %v", f.Path, err)
				}
			}
			for _, p := range fieldPaths(t, jt.ExamplePayload) {
				if !documented[p] {
					t.Errorf("the example payload has %s, which the description does not list", p)
				}
			}
			if err := Validate(jt.Name, json.RawMessage(jt.ExamplePayload)); err != nil {
				t.Fatalf("example payload: %v", err)
			}
			res, _, err := runJob(t, t.Context(), jt.Name, jt.ExamplePayload)
			if err != nil {
				t.Fatalf("example payload: %v", err)
			}
			if got, want := canonical(t, mustJSON(t, res)), canonical(t, jt.ExampleResult); got != want {
				t.Errorf("example result:\n got %s\nwant %s", got, want)
			}
			documented = map[string]bool{}
			for _, f := range jt.Result {
				documented[f.Path] = true
			}
			for _, p := range fieldPaths(t, mustJSON(t, res)) {
				if !documented[p] {
					t.Errorf("the result has %s, which the description does not list", p)
				}
			}
		})
	}
}

// canonical re-encodes a JSON document compactly with sorted keys.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

// fieldPaths lists the field paths of a JSON document as jobtypes writes
// them ("chunks[].text"); the keys of a map (a field whose keys are data,
// per_document) are not fields.
func fieldPaths(t *testing.T, s string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, sub := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				seen[p] = true
				if k != "per_document" {
					walk(p, sub)
				}
			}
		case []any:
			for _, sub := range v {
				if prefix != "" {
					seen[prefix+"[]"] = true
				}
				walk(prefix+"[]", sub)
			}
		}
	}
	walk("", v)
	var out []string
	for p := range seen {
		if strings.HasSuffix(p, "[]") {
			continue // a list's elements are described by their fields
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

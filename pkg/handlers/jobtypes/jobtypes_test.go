package jobtypes_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/handlers/jobtypes"
	"github.com/getkin/kin-openapi/openapi3"
)

var update = flag.Bool("update", false, "rewrite docs/api.md's job types section from the descriptions")

// The section of docs/api.md rendered from the descriptions.
const (
	docsFile    = "../../../docs/api.md"
	beginMarker = "<!-- job types: rendered from pkg/handlers/jobtypes (go test ./pkg/handlers/jobtypes -update) -->\n"
	endMarker   = "<!-- end of job types -->\n"
)

// TestDocsShowTheDescriptions: docs/api.md's "Job types" section is
// exactly what Markdown renders (-update rewrites it).
func TestDocsShowTheDescriptions(t *testing.T) {
	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i < 0 || j < i {
		t.Fatalf("%s has no job types section between %q and %q", docsFile, beginMarker, endMarker)
	}
	want := jobtypes.Markdown()
	if got := doc[i+len(beginMarker) : j]; got != want {
		if !*update {
			t.Fatalf("%s's job types section differs from the descriptions; run go test ./pkg/handlers/jobtypes -update\ngot:\n%s\nwant:\n%s", docsFile, got, want)
		}
		doc = doc[:i+len(beginMarker)] + want + doc[j:]
		if err := os.WriteFile(docsFile, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// schemaName is the OpenAPI schema of a type's payload or result:
// "chunking", "Result" → "ChunkingResult".
func schemaName(typ, part string) string {
	var b strings.Builder
	for _, w := range strings.Split(typ, "_") {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String() + part
}

// TestOpenAPIHasTheDescriptions: pkg/api/openapi.json has a payload and a
// result schema per type, with the fields, types and examples of the
// description, and the examples are valid by them.
func TestOpenAPIHasTheDescriptions(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "..", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, jt := range jobtypes.All() {
		for _, part := range []struct {
			name    string
			fields  []jobtypes.Field
			example string
		}{{"Payload", jt.Payload, jt.ExamplePayload}, {"Result", jt.Result, jt.ExampleResult}} {
			name := schemaName(jt.Name, part.name)
			ref := doc.Components.Schemas[name]
			if ref == nil || ref.Value == nil {
				t.Errorf("openapi.json has no schema %s", name)
				continue
			}
			s := ref.Value
			var example any
			if err := json.Unmarshal([]byte(part.example), &example); err != nil {
				t.Fatal(err)
			}
			if err := s.VisitJSON(example); err != nil {
				t.Errorf("%s: the example is not valid: %v", name, err)
			}
			if got, _ := json.Marshal(s.Example); canonical(t, string(got)) != canonical(t, part.example) {
				t.Errorf("%s: example %s, want the description's %s", name, got, part.example)
			}
			want := map[string]string{}
			for _, f := range part.fields {
				want[f.Path] = f.Type
			}
			got := map[string]string{}
			schemaFields(s, "", got)
			for p, typ := range want {
				if got[p] != typ {
					t.Errorf("%s: field %s is %q in openapi.json, %q in the description", name, p, got[p], typ)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("%s: field %s is in openapi.json only", name, p)
				}
			}
			if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
				t.Errorf("%s: not closed (additionalProperties: false)", name)
			}
		}
	}
}

// schemaFields collects the field paths of an object schema with their
// jobtypes type names; a list's item fields go under "<list>[]".
func schemaFields(s *openapi3.Schema, prefix string, out map[string]string) {
	for name, ref := range s.Properties {
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		v := ref.Value
		for _, alt := range v.OneOf { // a document: a string or an object
			if alt.Value.Type.Is("array") {
				v = alt.Value
			}
		}
		out[p] = typeName(v)
		switch {
		case v.Type.Is("object") && out[p] == "object":
			schemaFields(v, p, out)
		case v.Type.Is("array"):
			for _, alt := range append([]*openapi3.SchemaRef{v.Items}, v.Items.Value.OneOf...) {
				if alt.Value.Type.Is("object") {
					schemaFields(alt.Value, p+"[]", out)
				}
			}
		}
	}
}

func typeName(s *openapi3.Schema) string {
	switch {
	case s.Type.Is("array"):
		return "list"
	case s.Type.Is("object") && s.AdditionalProperties.Schema != nil:
		return "map"
	}
	for _, t := range []string{"integer", "number", "string", "boolean", "object"} {
		if s.Type.Is(t) {
			return t
		}
	}
	return "?"
}

// canonical re-encodes a JSON document compactly with sorted keys.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLookup(t *testing.T) {
	for _, jt := range jobtypes.All() {
		if got, ok := jobtypes.Lookup(jt.Name); !ok || got.Name != jt.Name {
			t.Errorf("Lookup(%q) = %v, %v", jt.Name, got.Name, ok)
		}
	}
	if _, ok := jobtypes.Lookup("thumbnail"); ok {
		t.Error("Lookup found a type that is not built in")
	}
}

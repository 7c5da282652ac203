package jobtypes

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Markdown renders every type as docs/api.md's "Job types" section shows
// them: the conventions, then per type what it does, a table of its
// payload's fields, one of its result's, and the example.
func Markdown() string {
	var b strings.Builder
	b.WriteString("The types that ship with the worker (code: `pkg/handlers`; this section is rendered\n")
	b.WriteString("from `pkg/handlers/jobtypes`, and `jobctl types` prints the same).\n\n")
	fmt.Fprintf(&b, "%s\n\n%s\n\n%s\n", wrap(Conventions), wrap(Documents), wrap(TextAnalysis))
	for _, t := range All() {
		b.WriteString("\n" + t.Markdown())
	}
	return b.String()
}

// Markdown renders t as a subsection of docs/api.md's "Job types".
func (t Type) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n%s\n", t.Name, wrap(sentence(t.Summary)+" "+t.About))
	table := func(title string, fields []Field) {
		fmt.Fprintf(&b, "\n%s\n\n| field | type | meaning |\n|---|---|---|\n", title)
		for _, f := range fields {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Path, f.Type, strings.ReplaceAll(f.Doc, "|", `\|`))
		}
	}
	table("Payload:", t.Payload)
	table("Result:", t.Result)
	fmt.Fprintf(&b, "\nThe payload\n\n```json\n%s\n```\n\ngives the result\n\n```json\n%s\n```\n",
		Indent(t.ExamplePayload), Indent(t.ExampleResult))
	return b.String()
}

// Text renders t for a terminal: what it does, its payload's and its
// result's fields, and the example (what `jobctl types TYPE` prints).
func (t Type) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n\n%s\n", t.Name, t.Summary, wrap(t.About))
	if len(t.Payload) > 0 && t.Payload[0].Path == "documents" {
		fmt.Fprintf(&b, "\n%s\n", wrap(Documents))
	}
	fields := func(title string, fs []Field) {
		fmt.Fprintf(&b, "\n%s:\n", title)
		width := 0
		for _, f := range fs {
			width = max(width, len(f.Path))
		}
		for _, f := range fs {
			fmt.Fprintf(&b, "  %-*s  %-7s  %s\n", width, f.Path, f.Type, f.Doc)
		}
	}
	fields("Payload", t.Payload)
	fields("Result", t.Result)
	fmt.Fprintf(&b, "\nExample payload:\n%s\n\nIts result:\n%s\n", Indent(t.ExamplePayload), Indent(t.ExampleResult))
	return b.String()
}

// Indent lays a JSON document out for reading: a value that fits on its
// line stays on it ({"term": "jobs", "count": 1}); a longer one puts each
// of its elements on a line of its own, indented by two spaces. Keys keep
// their order. A document that is not JSON comes back as it is.
func Indent(doc string) string {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec)
	if err != nil {
		return doc
	}
	var b strings.Builder
	v.write(&b, 0)
	return b.String()
}

// jsonValue is a JSON value with its object keys in their order.
type jsonValue struct {
	open   byte // '{' or '[' for an object or a list, else 0
	keys   []string
	elems  []jsonValue
	scalar string // the JSON of a scalar
}

func readValue(dec *json.Decoder) (jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return jsonValue{}, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		b, err := marshal(tok)
		return jsonValue{scalar: b}, err
	}
	v := jsonValue{open: byte(d)}
	for dec.More() {
		if v.open == '{' {
			k, err := dec.Token()
			if err != nil {
				return v, err
			}
			v.keys = append(v.keys, k.(string))
		}
		e, err := readValue(dec)
		if err != nil {
			return v, err
		}
		v.elems = append(v.elems, e)
	}
	_, err = dec.Token() // the closing delimiter
	return v, err
}

// compact is v on one line, with a space after each colon and comma.
func (v jsonValue) compact() string {
	if v.open == 0 {
		return v.scalar
	}
	parts := make([]string, len(v.elems))
	for i, e := range v.elems {
		parts[i] = e.compact()
		if v.open == '{' {
			k, _ := marshal(v.keys[i])
			parts[i] = k + ": " + parts[i]
		}
	}
	return string(v.open) + strings.Join(parts, ", ") + string(v.open+2) // '{'+2 is '}', '['+2 is ']'
}

func (v jsonValue) write(b *strings.Builder, indent int) {
	if c := v.compact(); v.open == 0 || indent+len(c) <= 80 || len(v.elems) == 0 {
		b.WriteString(c)
		return
	}
	pad := strings.Repeat(" ", indent+2)
	b.WriteByte(v.open)
	for i, e := range v.elems {
		b.WriteString("\n" + pad)
		if v.open == '{' {
			k, _ := marshal(v.keys[i])
			b.WriteString(k + ": ")
		}
		e.write(b, indent+2)
		if i < len(v.elems)-1 {
			b.WriteByte(',')
		}
	}
	b.WriteString("\n" + strings.Repeat(" ", indent) + string(v.open+2))
}

// marshal is the JSON of a scalar, with <, > and & as they are.
func marshal(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n"), err
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// wrap breaks text into lines of at most 76 characters.
func wrap(text string) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(w) > 76:
			b.WriteString("\n")
			n = 0
		default:
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

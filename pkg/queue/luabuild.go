package queue

import (
	"maps"
	"strings"
)

// Each script goes to Redis with the library it calls in front of it
// (lib.lua; lib.lua then pipeline_lib.lua for the pipeline scripts), and
// Redis runs that prelude on every call: each `local function` makes a
// closure, each constant a local. Under callgrind the whole of lib.lua
// cost about 30k instructions per call, more than a claimed job's HSET.
// So a script takes only the definitions it names, directly or through
// those it takes, in the library's order.

// libDef is one top-level definition of a library, with the comment
// above it: the names it defines and the identifiers its text uses.
type libDef struct {
	text    string
	defines []string
	uses    map[string]bool
}

// luaIdents is the set of names src may refer to: its identifiers
// outside whole-line comments, but for fields (math.floor names no local
// floor; a concatenation's '..' is no field access). A trailing comment's
// words are kept: naming too much only costs a definition more, naming
// too little would break the script. (A scan by hand: every process
// builds its scripts as it starts, and a regular expression made that
// several milliseconds of a worker's start.)
func luaIdents(src string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.SplitSeq(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		for i := 0; i < len(line); {
			if !identStart(line[i]) {
				i++
				continue
			}
			j := i + 1
			for j < len(line) && (identStart(line[j]) || '0' <= line[j] && line[j] <= '9') {
				j++
			}
			before := line[:i]
			field := strings.HasSuffix(before, ":") ||
				strings.HasSuffix(before, ".") && !strings.HasSuffix(before, "..")
			if !field {
				out[line[i:j]] = true
			}
			i = j
		}
	}
	return out
}

func identStart(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' }

// parseLib splits a library into its top-level definitions: a `local
// function NAME(` up to the `end` that starts a line, or a `local A, B =
// ...` with any line below it that is neither a comment, blank nor
// another definition (a table over several lines). Comments and blank
// lines go with the definition below them; those after the last one are
// dropped.
func parseLib(src string) []libDef {
	var defs []libDef
	var text strings.Builder
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		rest, ok := strings.CutPrefix(lines[i], "local ")
		if trimmed := strings.TrimSpace(lines[i]); !ok && trimmed != "" && !strings.HasPrefix(trimmed, "--") &&
			len(defs) > 0 && text.Len() == 0 {
			d := &defs[len(defs)-1] // a continuation of the definition above
			d.text += lines[i] + "\n"
			maps.Copy(d.uses, luaIdents(lines[i]))
			continue
		}
		text.WriteString(lines[i] + "\n")
		if !ok {
			continue
		}
		var names []string
		if fn, ok := strings.CutPrefix(rest, "function "); ok {
			name, _, _ := strings.Cut(fn, "(")
			names = []string{name}
			for i+1 < len(lines) && lines[i] != "end" {
				i++
				text.WriteString(lines[i] + "\n")
			}
		} else {
			lhs, _, _ := strings.Cut(rest, "=")
			for _, n := range strings.Split(lhs, ",") {
				names = append(names, strings.TrimSpace(n))
			}
		}
		defs = append(defs, libDef{text: text.String(), defines: names, uses: luaIdents(text.String())})
		text.Reset()
	}
	return defs
}

// withLib is body preceded by the definitions of defs it needs: those
// whose names it uses, and those they use in turn. A definition can only
// use those above it (a Lua local is seen below its declaration), so one
// pass from the last to the first finds them all.
func withLib(defs []libDef, body string) string {
	need := luaIdents(body)
	keep := make([]bool, len(defs))
	for i := len(defs) - 1; i >= 0; i-- {
		for _, n := range defs[i].defines {
			if need[n] {
				keep[i] = true
			}
		}
		if keep[i] {
			for id := range defs[i].uses {
				need[id] = true
			}
		}
	}
	var b strings.Builder
	for i, d := range defs {
		if keep[i] {
			b.WriteString(d.text)
		}
	}
	return b.String() + body
}

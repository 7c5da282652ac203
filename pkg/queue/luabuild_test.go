package queue

import (
	"strings"
	"testing"
)

// TestLibSplitsIntoEveryDefinition: each top-level local of the libraries
// is one definition, and the definitions hold every line of code.
func TestLibSplitsIntoEveryDefinition(t *testing.T) {
	for _, src := range []string{mustRead("lib.lua"), mustRead("pipeline_lib.lua")} {
		defs := parseLib(src)
		locals := 0
		var all strings.Builder
		for _, line := range strings.Split(src, "\n") {
			if strings.HasPrefix(line, "local ") {
				locals++
			}
		}
		for _, d := range defs {
			all.WriteString(d.text)
		}
		if len(defs) != locals {
			t.Fatalf("%d definitions: want one per top-level local, %d", len(defs), locals)
		}
		for _, line := range strings.Split(src, "\n") {
			if code := strings.TrimSpace(line); code != "" && !strings.HasPrefix(code, "--") &&
				!strings.Contains(all.String(), line+"\n") {
				t.Errorf("line %q is in no definition", line)
			}
		}
	}
}

// TestScriptsDefineEveryLibNameTheyUse: a script that names a definition
// of its library anywhere in its code, its own or a definition's it
// took, has it (else it would fail at run time, on a global), and the
// definitions keep the library's order.
func TestScriptsDefineEveryLibNameTheyUse(t *testing.T) {
	entries, err := luaFS.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	libs := parseLibraries()
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" || name == "pipeline_lib" {
			continue
		}
		defs := libs.of(name)
		script := libs.source(name) // as loadScripts sends it
		used := luaIdents(script)
		last := -1
		for _, d := range defs {
			at := strings.Index(script, d.text)
			for _, n := range d.defines {
				if used[n] && at < 0 {
					t.Errorf("%s uses %s but does not define it", name, n)
				}
			}
			if at >= 0 {
				if at < last {
					t.Errorf("%s: %v out of the library's order", name, d.defines)
				}
				last = at
			}
		}
		if strings.HasPrefix(name, "submit") && strings.Contains(script, "local function complete_run(") {
			t.Errorf("%s takes complete_run, which it does not use", name)
		}
	}
}

// TestLuaIdentsSkipsFieldsAndCommentLines: what a script's line may name.
func TestLuaIdentsSkipsFieldsAndCommentLines(t *testing.T) {
	got := luaIdents("local x = math.floor(t.n) .. s:sub(1) .. y_2 .. 0x1f\n  -- hidden\nz = 'q' -- kept")
	want := []string{"local", "x", "math", "t", "s", "y_2", "x1f", "z", "q", "kept"}
	for _, n := range want {
		if !got[n] {
			t.Errorf("%s not found", n)
		}
	}
	for _, n := range []string{"floor", "n", "sub", "hidden", "0x1f"} {
		if got[n] {
			t.Errorf("%s found", n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

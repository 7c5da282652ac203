// Package docs holds the project's documentation; its test checks the
// words of every text the project ships.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// inHouse matches words that speak of how the work on the project is
// organised rather than of the product, which a reader cannot know.
var inHouse = regexp.MustCompile(`(?i)\bthe seed\b|\bseed's\b|\bseed (contract|flows?|client|fields)\b|\bthe issue\b|\bissue [0-9]+\b|\bissue #[0-9]`)

// TestNoInHouseWords: README, docs, comments, tests and scripts speak of
// the product (the Jobs API, compatible with Compileo's Jobs API), never
// of "the seed" or "the issue".
func TestNoInHouseWords(t *testing.T) {
	self, err := filepath.Abs("docs_test.go")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{".go": true, ".md": true, ".py": true, ".json": true, ".js": true, ".html": true,
		".css": true, ".yml": true, ".yaml": true, ".sh": true, ".conf": true}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && d.Name() != ".." && d.Name() != ".ci" {
				return filepath.SkipDir
			}
			return nil
		}
		if abs, _ := filepath.Abs(path); abs == self || !texts[filepath.Ext(path)] {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := inHouse.FindString(line); m != "" {
				t.Errorf("%s:%d: %q: say what is meant", path, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package queue

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// charPattern replaces these regexps: it must agree with them everywhere.
func TestCharPatternMatchesRegexp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p  charPattern
		re *regexp.Regexp
	}{
		{namePattern, regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)},
		{typePattern, regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)},
	} {
		cases := []string{"", "a", "default", "a:b", "a b", "é", "x\n", "ok\x00",
			strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("b", 128),
			strings.Repeat("b", 129), "Z9_.-:", "/", "a/b", "[", "`"}
		alphabet := "aZ09_.-:/ \n\x00é\x7f@[`{"
		rng := rand.New(rand.NewPCG(1, 2))
		for range 20000 {
			b := make([]byte, rng.IntN(140))
			valid := rng.IntN(2) == 0 // only name bytes (and ':'), any length
			for i := range b {
				if valid {
					b[i] = alphabet[rng.IntN(8)]
				} else if rng.IntN(50) == 0 {
					b[i] = byte(rng.IntN(256))
				} else {
					b[i] = alphabet[rng.IntN(len(alphabet))]
				}
			}
			cases = append(cases, string(b))
		}
		for _, s := range cases {
			if got, want := c.p.MatchString(s), c.re.MatchString(s); got != want {
				t.Fatalf("%+v on %q: %v, regexp %v", c.p, s, got, want)
			}
		}
	}
}

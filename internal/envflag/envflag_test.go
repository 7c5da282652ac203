package envflag

import (
	"reflect"
	"testing"
	"time"
)

func TestWeights(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]int
		bad  bool
	}{
		{"default", map[string]int{"default": 1}, false},
		{"critical=6, default=3,low", map[string]int{"critical": 6, "default": 3, "low": 1}, false},
		{"", map[string]int{}, false},
		{"a=0", nil, true},
		{"a=x", nil, true},
	} {
		got, err := Weights(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Weights(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestEnvDefaultsAndFlagsWin(t *testing.T) {
	t.Setenv("X_DUR", "2s")
	t.Setenv("X_INT", "7")
	s := New("t")
	d := s.Duration("dur", "X_DUR", time.Second, "")
	n := s.Int("n", "X_INT", 1, "")
	if err := s.Parse([]string{"-n", "9"}); err != nil {
		t.Fatal(err)
	}
	if *d != 2*time.Second || *n != 9 {
		t.Fatalf("dur=%v n=%d", *d, *n)
	}
	t.Setenv("X_BAD", "soon")
	s = New("t")
	s.Duration("bad", "X_BAD", time.Second, "")
	if err := s.Parse(nil); err == nil {
		t.Fatal("malformed env accepted")
	}
}

package webhook

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestGuardAllowed(t *testing.T) {
	t.Parallel()
	open := &Guard{}
	allowLoopback := &Guard{Allow: mustAllow(t, "127.0.0.1, 10.1.0.0/16")}
	for _, tc := range []struct {
		addr         string
		open, opened bool
	}{
		{"93.184.216.34", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, false},
		{"::1", false, false},
		{"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, true},
		{"10.2.0.1", false, false},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", false, false}, // cloud metadata
		{"fe80::1", false, false},
		{"fc00::1", false, false},
		{"100.64.0.1", false, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := open.Allowed(a); got != tc.open {
			t.Errorf("default guard: %s allowed %v, want %v", a, got, tc.open)
		}
		if got := allowLoopback.Allowed(a); got != tc.opened {
			t.Errorf("guard allowing 127.0.0.1 and 10.1/16: %s allowed %v, want %v", a, got, tc.opened)
		}
	}
}

func mustAllow(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseAllow(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseAllowRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"localhost", "10.0.0.0/33", "1.2.3"} {
		if _, err := ParseAllow(s); err == nil {
			t.Errorf("ParseAllow(%q) accepted", s)
		}
	}
}

// A URL naming a refused address is refused at submission, a name that
// resolves to one as well, and the dial refuses it again.
func TestGuardChecksURLAndDial(t *testing.T) {
	t.Parallel()
	g := &Guard{}
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://[::1]/x", "http://localhost/x",
		"https://169.254.169.254/latest/meta-data"} {
		if err := g.CheckURL(ctx, u); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckURL(%s) = %v, want ErrForbiddenAddress", u, err)
		}
	}
	if err := g.CheckURL(ctx, "https://93.184.216.34/hook"); err != nil {
		t.Errorf("a public address: %v", err)
	}
	if err := g.Control("tcp4", "127.0.0.1:80", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("dialing loopback: %v", err)
	}
	if err := g.Control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Errorf("dialing a public address: %v", err)
	}
}

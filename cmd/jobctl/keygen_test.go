package main

import (
	"strings"
	"testing"

	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/compileo/jobqueue/pkg/api"
)

// keygen prints a key line the apiserver takes (strong enough, with the
// name and role asked for), a new secret each time; the secret then
// opens the API to clients.
func TestKeygen(t *testing.T) {
	t.Parallel()
	r := jobctl(t, nil, "keygen", "--name", "ops", "--role", "admin")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("keygen: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	line := strings.TrimSpace(r.stdout)
	keys, err := api.ParseKeys(line)
	if err != nil || len(keys) != 1 || keys[0].Name != "ops" || keys[0].Role != api.RoleAdmin {
		t.Fatalf("keygen printed %q: %v %v", line, keys, err)
	}
	if again := jobctl(t, nil, "keygen", "--name", "ops", "--role", "admin"); strings.TrimSpace(again.stdout) == line {
		t.Fatal("keygen printed the same key twice")
	}
	if r := jobctl(t, nil, "keygen"); !strings.HasPrefix(r.stdout, "client:read:") {
		t.Errorf("keygen defaults: %q", r.stdout)
	}
	for _, bad := range [][]string{{"--role", "root"}, {"--name", "a:b"}, {"extra"}} {
		if r := jobctl(t, nil, append([]string{"keygen"}, bad...)...); r.code != exitUsage {
			t.Errorf("keygen %v: exit %d, want %d", bad, r.code, exitUsage)
		}
	}

	srv := servertest.New(t, &servertest.Options{Keys: keys})
	secret := line[strings.LastIndex(line, ":")+1:]
	if r := jobctl(t, []string{"JOBS_SERVER=" + srv.URL, "JOBS_API_KEY=" + secret}, "stats"); r.code != exitOK {
		t.Fatalf("stats with the new key: exit %d, %s", r.code, r.stderr)
	}
	if r := jobctl(t, []string{"JOBS_SERVER=" + srv.URL}, "stats"); r.code != exitRefused {
		t.Fatalf("stats without a key: exit %d", r.code)
	}
}

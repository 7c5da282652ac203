package redistest

import (
	"errors"
	"testing"
)

// A server must be the child the helper started: a port held by another
// server is refused (and Start picks another), never silently shared.
func TestStartRefusesAPortAnotherServerHolds(t *testing.T) {
	first := New(t, nil)
	second := &Server{Addr: first.Addr, Port: first.Port, Dir: t.TempDir()}
	second.args = serverArgs(second.Dir, first.Port, &Options{})
	err := second.start()
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a taken port: %v, want errPortTaken", err)
	}
	pid, err := serverPID(first.Addr)
	if err != nil || pid != first.cmd.Process.Pid {
		t.Fatalf("the first server: pid %d, %v", pid, err)
	}
}

// Cluster nodes get ports whose bus port (port+10000) is valid and free.
func TestClusterPortsHaveAValidBusPort(t *testing.T) {
	for range 50 {
		port, err := freeClusterPort()
		if err != nil {
			t.Fatal(err)
		}
		if port+clusterBusOffset > 65535 || port >= 32768 {
			t.Fatalf("port %d: its bus port %d is invalid or in the ephemeral range", port, port+clusterBusOffset)
		}
	}
}

// FreePort never gives one port twice in a test binary, though the kernel
// offers a closed probe's port again: processes started together each get
// a port of their own.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 3000 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d given twice", p)
		}
		seen[p] = true
	}
}

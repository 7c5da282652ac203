// Package faults is the fault suite: it runs the service as real processes
// (redis-server with AOF, apiservers, workers, nginx) on loopback and
// breaks them — SIGKILLs workers and apiservers, restarts and stops Redis,
// runs a steady flow for a while — then checks that no job is lost, that
// recovery keeps its time bound, that nothing hangs or leaks, and that
// memory levels off. Each test prints its figures; docs/reliability.md
// records them.
//
// Every test is bounded in time and in the number of processes it starts,
// and kills all of them at cleanup. FAULTS_SOAK (a duration, e.g. 5m)
// lengthens the bounded-memory run.
package faults

import (
	"github.com/compileo/jobqueue/internal/testmain"
	"net/http"
	"testing"

	"github.com/compileo/jobqueue/internal/clustertest"
)

func TestMain(m *testing.M) {
	testmain.Run(m, func() {
		// Keep-alive connections of the test's HTTP clients are not leaks.
		http.DefaultClient.CloseIdleConnections()
		clustertest.Client.CloseIdleConnections()
	})
}

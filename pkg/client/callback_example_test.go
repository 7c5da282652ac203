package client_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/compileo/jobqueue/pkg/client"
)

// A receiver of job callbacks: it checks each POST's signature with the
// deployment's WEBHOOK_SECRET and drops the deliveries it has seen, since
// a delivery may come more than once.
func ExampleVerifyCallback() {
	secret := "the deployment's WEBHOOK_SECRET"
	var mu sync.Mutex
	seen := map[string]bool{}
	http.HandleFunc("POST /hooks/jobs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		id, err := client.VerifyCallback(secret, r.Header, body, 0)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if !dup {
			fmt.Printf("job ended: %s\n", body) // the job's record, as GET /api/v1/jobs/{id} has it
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered
	})
}

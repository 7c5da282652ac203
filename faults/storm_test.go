package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Shape of the crash storm. FAULTS_STORM_JOBS raises the job count.
const (
	stormJobs        = 2000
	stormLease       = time.Second
	stormSubmitFor   = 20 * time.Second // submissions are paced over this
	stormKillEvery   = 2 * time.Second
	stormLongEvery   = 25 // every 25th job is a long one
	stormShortRun    = 100 * time.Millisecond
	stormLongRun     = time.Second
	stormShort       = `{"steps":2,"step_ms":50}`
	stormLong        = `{"steps":20,"step_ms":50}`
	stormCancelEvery = 300 * time.Millisecond
	// Every stormPyEvery-th job is run by Python workers over the lease
	// protocol (lease stormPyLease, the protocol's shortest), and every
	// stormPyKillEvery-th kill is of one of them.
	stormPyEvery     = 10
	stormPyLease     = 5 * time.Second
	stormPyKillEvery = 3
	stormPyWorkers   = 2
)

// stormLog is what the storm did, written by its goroutines.
type stormLog struct {
	mu   sync.Mutex
	ids  []string          // submitted, by submission index
	long map[string]bool   // long jobs
	py   map[string]bool   // jobs of the Python workers
	idx  map[string]int    // id → submission index
	kill map[string]killAt // jobs running on a worker when it was SIGKILLed: the last such kill
	// Cancels by outcome: 200 (must end cancelled) and unknown (503 or a
	// broken connection: either outcome is right).
	cancelled, cancelUnknown map[string]bool
	cancel409                int
	completedSeen            map[string]bool // a completed event was published
	submitRetries            atomic.Int64
}

type killAt struct {
	worker string
	at     time.Time
}

// TestCrashStorm runs stormJobs demo jobs through two apiservers and three
// Go workers (lease 1 s), and one job in stormPyEvery through two Python
// workers of the lease protocol (lease 5 s), on a redis-server with AOF
// fsynced on every write.
// While they run it SIGKILLs a random worker (every third time a Python
// one) every 2 s and starts a new
// one, restarts Redis once (SHUTDOWN, then a start from its AOF on the same
// port) and cancels jobs through the API. Then every job must be in the
// terminal state it should be in, every job a kill interrupted must have
// run again and finished within 2× its lease, no job whose cancel got 200
// may ever have completed, and the counters must equal the indexes.
func TestCrashStorm(t *testing.T) {
	jobs := stormJobs
	if v, err := strconv.Atoi(os.Getenv("FAULTS_STORM_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 3,
		RedisArgs: []string{"--appendfsync", "always"},
		WorkerEnv: []string{"WORKER_LEASE_TTL=" + stormLease.String(), "WORKER_CONCURRENCY=12",
			"LOG_LEVEL=warn"},
		APIEnv: []string{"LOG_LEVEL=warn", "API_JOB_TYPES=" + stormPyType}})
	q := cl.Queue()
	apis := cl.APIs()
	pyLive := make([]*proctest.Proc, stormPyWorkers)
	for i := range pyLive {
		pyLive[i] = stormPyWorker(t, fmt.Sprintf("py-storm-%d", i), apis[i%len(apis)].URL)
	}
	pyStarted := len(pyLive)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	lg := &stormLog{long: map[string]bool{}, py: map[string]bool{}, idx: map[string]int{}, kill: map[string]killAt{},
		cancelled: map[string]bool{}, cancelUnknown: map[string]bool{}, completedSeen: map[string]bool{}}
	lg.ids = make([]string, jobs)

	// Watch every event, to catch a cancelled job completing even for a moment.
	hub := q.NewHub()
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	allEvents := hub.Subscribe("")
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range allEvents.C {
			if ev.Status == queue.StateCompleted {
				lg.mu.Lock()
				lg.completedSeen[ev.JobID] = true
				lg.mu.Unlock()
			}
		}
	}()

	start := time.Now()
	// Submitters: paced evenly over stormSubmitFor, alternating apiservers.
	next := make(chan int)
	go func() {
		defer close(next)
		tick := time.NewTicker(stormSubmitFor / time.Duration(jobs))
		defer tick.Stop()
		for i := range jobs {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			next <- i
		}
	}()
	var submitters sync.WaitGroup
	submitErr := make(chan error, 1)
	for range 4 {
		submitters.Add(1)
		go func() {
			defer submitters.Done()
			for i := range next {
				py := i%stormPyEvery == stormPyEvery-1
				long := !py && i%stormLongEvery == stormLongEvery-1
				id, err := stormSubmit(ctx, lg, apis, i, long, py)
				if err != nil {
					select {
					case submitErr <- err:
					default:
					}
					return
				}
				lg.mu.Lock()
				lg.ids[i], lg.idx[id] = id, i
				if long {
					lg.long[id] = true
				}
				if py {
					lg.py[id] = true
				}
				lg.mu.Unlock()
			}
		}()
	}
	submitted := make(chan struct{})
	var submittedIn time.Duration // written before submitted closes
	go func() { submitters.Wait(); submittedIn = time.Since(start); close(submitted) }()

	// Canceller: long jobs (likely pending or running), now and then a short one.
	stopCancels := make(chan struct{})
	cancels := make(chan struct{})
	go func() {
		defer close(cancels)
		tick := time.NewTicker(stormCancelEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopCancels:
				return
			case <-tick.C:
			}
			if id := pickCancel(lg); id != "" {
				stormCancel(ctx, lg, apis[rand.IntN(len(apis))].URL, id)
			}
		}
	}()

	// The storm: a kill every stormKillEvery; at the sixth tick a Redis
	// restart instead, with no kill on the ticks around it, so each kill's
	// recovery window is clear of the outage.
	live := cl.Workers()
	kills, tick := 0, 0
	var outage time.Duration
	ticker := time.NewTicker(stormKillEvery)
	defer ticker.Stop()
	done := false
	for !done {
		select {
		case err := <-submitErr:
			t.Fatalf("submit: %v", err)
		case <-ctx.Done():
			t.Fatal("storm did not end in time")
		case <-ticker.C:
		}
		tick++
		select {
		case <-submitted:
			done = kills >= 8 // keep killing until the last submissions run
		default:
		}
		switch tick {
		case 5, 7:
			continue
		case 6:
			t0 := time.Now()
			cl.Redis.Shutdown()
			if err := cl.Redis.Restart(); err != nil {
				t.Fatalf("redis restart: %v", err)
			}
			outage = time.Since(t0)
			t.Logf("t=%s redis restarted from its AOF (down %s)", time.Since(start).Round(time.Millisecond), outage.Round(time.Millisecond))
			continue
		}
		if done {
			break
		}
		pool, pyKill := live, kills%stormPyKillEvery == stormPyKillEvery-1
		if pyKill {
			pool = pyLive
		}
		i := rand.IntN(len(pool))
		victim := pool[i]
		victim.Kill()
		killed := time.Now()
		kills++
		// The dead worker's runs stay running in Redis until their leases
		// expire (≥ 2/3 of a lease away): read them now.
		page, err := q.List(ctx, queue.ListParams{Status: queue.StateRunning, Limit: queue.MaxListLimit})
		if err != nil {
			t.Fatalf("list running jobs: %v", err)
		}
		n := 0
		lg.mu.Lock()
		for _, j := range page.Jobs {
			if j.WorkerID == victim.Name {
				lg.kill[j.ID] = killAt{worker: victim.Name, at: killed}
				n++
			}
		}
		lg.mu.Unlock()
		if pyKill {
			pool[i] = stormPyWorker(t, fmt.Sprintf("py-storm-%d", pyStarted), apis[pyStarted%len(apis)].URL)
			pyStarted++
		} else {
			pool[i] = cl.StartWorker()
		}
		t.Logf("t=%s SIGKILL %s (running %d jobs); started %s", time.Since(start).Round(time.Millisecond),
			victim.Name, n, pool[i].Name)
	}
	close(stopCancels)
	<-cancels
	stormFor := time.Since(start)

	// Every job reaches a terminal state.
	ids := slices.Clone(lg.ids)
	var final []*queue.Job
	for settle := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if final, err = getAll(ctx, q, ids); err != nil {
			t.Fatal(err)
		}
		if allTerminal(final) || time.Now().After(settle) {
			break // a job still unfinished after a minute is judged lost below
		}
	}
	took := time.Since(start)
	hub.Stop()
	<-watched

	// The processes that lived through the Redis restart reconnected by
	// themselves: every apiserver is ready and the live workers are registered.
	for _, a := range apis {
		clustertest.WaitReady(t, a.URL, 5*time.Second)
	}
	// (Go workers: a killed Python worker stays listed until its entry
	// expires, a lease and a wait after its last call.)
	ws, err := q.Workers(ctx)
	native := 0
	for _, w := range ws {
		if w.Protocol == queue.ProtocolNative {
			native++
		}
	}
	if err != nil || native != len(live) {
		t.Errorf("%d Go workers registered, %d alive (%v)", native, len(live), err)
	}

	// Judge every job.
	lg.mu.Lock()
	defer lg.mu.Unlock()
	var lost, wrong, recovered int
	var maxRestart, maxFinishShort, maxFinishLong time.Duration
	var problems []string
	for i, j := range final {
		id := ids[i]
		if j == nil || !j.Status.Terminal() {
			lost++
			if j != nil {
				problems = append(problems, fmt.Sprintf("job %s stuck %s (attempts %d)", id, j.Status, j.Attempts))
			}
			continue
		}
		want := queue.StateCompleted
		switch {
		case lg.cancelled[id]:
			want = queue.StateCancelled
			if lg.completedSeen[id] {
				problems = append(problems, fmt.Sprintf("job %s: cancel got 200 but a completed event was published", id))
			}
		case lg.cancelUnknown[id] && j.Status == queue.StateCancelled:
			want = queue.StateCancelled
		}
		if j.Status != want {
			wrong++
			problems = append(problems, fmt.Sprintf("job %s: %s (attempts %d, error %q), want %s", id, j.Status, j.Attempts, j.Error, want))
		}
		k, wasKilled := lg.kill[id]
		if !wasKilled || j.Status != queue.StateCompleted {
			continue
		}
		recovered++
		run, lease := stormShortRun, stormLease
		if lg.long[id] {
			run = stormLongRun
		}
		if lg.py[id] {
			lease = stormPyLease
		}
		restart, finish := j.StartedAt.Sub(k.at), j.CompletedAt.Sub(k.at)
		maxRestart = max(maxRestart, restart)
		if lg.long[id] {
			maxFinishLong = max(maxFinishLong, finish)
		} else {
			maxFinishShort = max(maxFinishShort, finish)
		}
		switch {
		case j.Attempts < 2 || j.WorkerID == k.worker:
			problems = append(problems, fmt.Sprintf("job %s interrupted on %s finished on %s after %d attempts", id, k.worker, j.WorkerID, j.Attempts))
		case restart > 2*lease:
			problems = append(problems, fmt.Sprintf("job %s ran again %s after %s died; want within 2×lease (%s)", id, restart, k.worker, 2*lease))
		case finish > 2*lease+run:
			problems = append(problems, fmt.Sprintf("job %s (a %s job) finished %s after %s died; want within 2×lease + its run (%s)", id, run, finish, k.worker, 2*lease+run))
		}
	}
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range queue.States() {
		total += st.Counts[s]
		if !s.Terminal() && st.Counts[s] != 0 {
			problems = append(problems, fmt.Sprintf("%d jobs still %s", st.Counts[s], s))
		}
	}
	if total != int64(len(ids)) {
		problems = append(problems, fmt.Sprintf("the counters hold %d jobs, %d were submitted", total, len(ids)))
	}
	if err := q.CheckInvariants(ctx); err != nil {
		problems = append(problems, err.Error())
	}

	t.Logf("jobs %d (long %d, Python %d) submitted in %s through %d apiservers (%d submit retries); storm %s; %d workers started in all",
		len(ids), len(lg.long), len(lg.py), submittedIn.Round(time.Millisecond), len(apis), lg.submitRetries.Load(),
		stormFor.Round(time.Millisecond), len(cl.Workers()))
	t.Logf("kills %d, recovered %d (restarted at most %s after the kill; short jobs finished at most %s after, long ones %s)",
		kills, recovered, maxRestart.Round(time.Millisecond), maxFinishShort.Round(time.Millisecond), maxFinishLong.Round(time.Millisecond))
	t.Logf("cancels: %d got 200, %d got 409, %d unknown (503 or broken); completed %d, cancelled %d, failed %d",
		len(lg.cancelled), lg.cancel409, len(lg.cancelUnknown), st.Counts[queue.StateCompleted],
		st.Counts[queue.StateCancelled], st.Counts[queue.StateFailed])
	t.Logf("events dropped by the watcher: %d", hub.Dropped())
	t.Logf("SUMMARY crash-storm jobs=%d kills=%d redis_restarts=1 redis_down=%s recovered=%d max_recovery=%s lost=%d wrong=%d cancelled=%d time=%s",
		len(ids), kills, outage.Round(time.Millisecond), recovered, maxFinishShort.Round(time.Millisecond), lost, wrong,
		len(lg.cancelled), took.Round(time.Millisecond))
	if lost > 0 || len(problems) > 0 {
		if len(problems) > 20 {
			problems = problems[:20]
		}
		t.Fatalf("%d lost; problems:\n  %s", lost, strings.Join(problems, "\n  "))
	}
}

// stormSubmit submits job i, retrying through the other apiserver while
// Redis is away. The unique key makes a retry of a submission that did
// land (its answer lost) return the same job instead of a second one.
func stormSubmit(ctx context.Context, lg *stormLog, apis []*clustertest.API, i int, long, py bool) (string, error) {
	typ, payload := "demo", stormShort
	if long {
		payload = stormLong
	}
	if py {
		typ, payload = stormPyType, stormPyPayload
	}
	body := fmt.Sprintf(`{"type":%q,"payload":%s,"max_retries":20,"unique_key":"storm-%d"}`, typ, payload, i)
	for try := 0; ; try++ {
		var out struct {
			JobID string `json:"job_id"`
			Error struct {
				Code  string `json:"code"`
				JobID string `json:"job_id"`
			} `json:"error"`
		}
		base := apis[(i+try)%len(apis)].URL
		code, _, err := clustertest.Do(ctx, http.MethodPost, base+"/api/v1/jobs", body, &out)
		switch {
		case err == nil && code == http.StatusCreated:
			return out.JobID, nil
		case err == nil && code == http.StatusConflict && out.Error.Code == "duplicate":
			return out.Error.JobID, nil
		case err == nil && code != http.StatusServiceUnavailable:
			return "", fmt.Errorf("job %d: %d %+v", i, code, out)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("job %d: %w (last: %d %v)", i, ctx.Err(), code, err)
		}
		lg.submitRetries.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

// pickCancel chooses a recent long job not cancelled yet (it is likely
// pending or running), or one time in four a recent short one.
func pickCancel(lg *stormLog) string {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	var recent []string
	for i := len(lg.ids) - 1; i >= 0 && len(recent) < 200; i-- {
		if id := lg.ids[i]; id != "" {
			recent = append(recent, id)
		}
	}
	wantLong := rand.IntN(4) != 0
	for range 20 {
		if len(recent) == 0 {
			return ""
		}
		id := recent[rand.IntN(len(recent))]
		if lg.long[id] == wantLong && !lg.cancelled[id] && !lg.cancelUnknown[id] {
			return id
		}
	}
	return ""
}

// stormCancel cancels id through base and records the outcome.
func stormCancel(ctx context.Context, lg *stormLog, base, id string) {
	code, _, err := clustertest.Do(ctx, http.MethodPost, base+"/api/v1/jobs/cancel/"+id, "", nil)
	lg.mu.Lock()
	defer lg.mu.Unlock()
	switch {
	case err == nil && code == http.StatusOK:
		lg.cancelled[id] = true
	case err == nil && code == http.StatusConflict:
		lg.cancel409++
	default:
		lg.cancelUnknown[id] = true
	}
}

// getAll reads jobs in pages of 500.
func getAll(ctx context.Context, q *queue.Client, ids []string) ([]*queue.Job, error) {
	out := make([]*queue.Job, 0, len(ids))
	for from := 0; from < len(ids); from += 500 {
		page, err := q.GetMany(ctx, ids[from:min(from+500, len(ids))])
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
	}
	return out, nil
}

func allTerminal(jobs []*queue.Job) bool {
	for _, j := range jobs {
		if j == nil || !j.Status.Terminal() {
			return false
		}
	}
	return true
}

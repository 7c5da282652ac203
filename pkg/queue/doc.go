// Package queue is the job engine: the Redis data model, the atomic Lua
// state transitions, leases, events, and the Worker that runs handlers.
// It knows nothing of HTTP.
//
// # States
//
// A job moves through the States (see State and docs/state_machine.md).
// Every transition is one Lua script in lua/, guarded by the state it
// expects and — for running jobs — by the run token of the run holding the
// lease, so a stale write is refused (ErrLeaseLost, *TransitionError), never
// applied. Each script updates the job hash, the indexes, the per-state
// counters and the version, and publishes the event, in one step.
//
// # Key layout
//
// Every key of a shard shares one hash tag, so all keys a script touches
// live in one Redis Cluster slot. With one shard (Config.Shards 1, the
// default) the tag is {P} (P = Config.Prefix, default "jq") and every key
// below is under it; with S shards the per-job keys (the first group) are
// under shard n's tag {P:s<n>.<k>}, n = crc32(id) mod S, and the rest stay
// under {P} (keys.go has the rules; docs/cluster.md the why). keys.go
// builds every name; no other file spells one.
//
//	per shard:
//	{T}:job:<id>             hash   the job (fields: job.go)
//	{T}:jobevents:<id>       list   the job's events from its first claim on, newest MaxEventHistory (jobevents.go)
//	                                (a claim's event waits in the job's claim_event field; a completion's is the job)
//	{T}:log:<id>             list   the job's log lines, newest Config.LogLines (log.go)
//	{T}:q:<queue>:t:<type>:pending  zset  a lane: runnable jobs of one type; score (100-priority)·1e12 + seq
//	{T}:q:<queue>:t:<type>:wake     list  tokens the lane's idle workers block on (BLPOP), capped
//	{T}:q:<queue>:types      set    the types of the queue's lanes (empty ones forgotten)
//	{T}:q:<queue>:scheduled  zset   future jobs; score run_at ms
//	{T}:q:<queue>:retrying   zset   jobs in retry backoff; score due ms
//	{T}:leases               zset   running jobs; score lease deadline ms
//	{T}:done:<state>         zset   completed|failed|cancelled; score finish ms
//	{T}:counts               hash   state → number of jobs (O(1) stats)
//	{T}:queues               set    queue names (at most Config.MaxQueues; empty ones forgotten)
//	{T}:seq                  string FIFO sequence for pending scores (shared by the lanes)
//	{T}:deadlines            zset   jobs submitted with a deadline; score deadline ms
//	{T}:tallies              hash   deadline_exceeded, timed_out → jobs that ended so
//	{T}:types:running        hash   type → running jobs
//	{T}:types:limits         hash   type → running limit, and the claim controls: "|paused|<queue>" → 1,
//	                                "|rate|<type>" → "n:period ms" (a copy; claims read it)
//	{T}:types:starts:<type>  zset   a rate-limited type's run starts in its last period: run token → start ms
//	{T}:waiting              zset   jobs of pipelines waiting for their parents; score since ms
//	{T}:pipeline:<id>        hash   a pipeline: status, counters, its graph, its callback's delivery (pipeline.go)
//	{T}:pipelines:done       zset   ended pipelines; score end ms (retention)
//	{T}:unique:<key>         string unique key → job id (or pipeline id)
//	{T}:hooks                zset   callbacks to deliver: job id, or pipeline:<id> for a pipeline's; score due ms (or its claim's lease deadline)
//	{T}:worker:<id>:wake     list   a worker's private wake list (shutdown)
//	{T}:h                    hash   the history index: "<queue>:<type>" → last minute written (Unix s / 60)
//	{T}:h:m:<minute>:<queue>:<type>  hash  a minute's history (counters, run and wait buckets, sampled depths), 48 h
//	{T}:h:h:<hour>:<queue>:<type>    hash  an hour's, rolled up from its minutes by maintenance, 30 days
//	{T}:h:rolled             string the last hour rolled up
//	{T}:h:sampled            hash   minute → the process that sampled its depths (the claim), 48 h
//	global:
//	{P}:shards               string the shard count the queue was created with
//	{P}:types:limits         hash   type → fleet-wide running limit, and the claim controls (the source)
//	{P}:rate:<caller>        string an API caller's rate-limit state
//	{P}:block:<subject>      string a subject barred until the key expires (failed authentications)
//	{P}:owned:<owner>        zset   jobs a submitter created, not yet seen finished; score submit ms (quotas)
//	{P}:owned:<owner>:pruned string the owned set was pruned lately
//	{P}:schedules            zset   schedule names (all scored 0: ordered by name)
//	{P}:schedules:due        zset   active schedules; score next run ms
//	{P}:schedule:<name>      hash   a schedule (fields: schedule.go)
//	{P}:workers              zset   worker id → its entry's expiry ms
//	{P}:worker:<id>          hash   worker info; expires without heartbeats
//	{P}:events               channel every job event (JSON Event, or an array of the events of one script call),
//	                                and submit.lua's lane notices (events without a job_id)
//	{P}:cancels              channel ids of cancelled running jobs
//
// # Taking work
//
// Runnable jobs wait in lanes, one per queue and type, so a worker takes
// only the types it runs (a Go worker those its Mux has handlers for) and
// a backlog of a type nobody serves hides nothing. Scheduled and retrying
// jobs wait per queue (time moves them, not a claim), and promotion puts
// each in its lane. An idle Worker blocks on the wake lists of its lanes;
// every transition that makes a job runnable pushes a token, so pickup
// takes about a millisecond with no polling. A claim is one script
// call: claim.lua reads the heads of the claim's lanes (queues × types; an
// empty lane costs a missing-key lookup), merges them by queue order,
// priority and submission order, and takes up to the free slots, all
// atomically, so concurrent claimers never take one job twice nor
// collide on one; a type at its running limit has its lanes skipped
// unread. (Sharded, a pipelined peek first decides how many jobs to take
// from each shard.) A worker acknowledges the runs that
// finished meanwhile in one complete.lua call, and concurrent Enqueue calls
// share a submission: under load, round trips and script calls are paid
// per batch, not per job.
//
// # Leases and recovery
//
// A running job holds a lease (WorkerConfig.LeaseTTL) that heartbeats and
// progress writes extend. Any process may Reap: jobs whose lease expired go
// back to pending (the attempt stays counted) or fail when out of attempts.
// A finished run's token stays on a completed, failed or retrying job, so
// that the same run repeating its last write (a client retrying after a
// lost answer) is answered, not refused; any other token is.
//
// # Cancellation
//
// Cancel marks a running job cancelled in Redis at once and publishes its
// id; the worker running it cancels the handler's context. Should that
// message be lost, the next heartbeat or progress write of the old run is
// refused and stops the handler all the same.
//
// # History
//
// Every transition script counts what it did (submitted, started,
// completed, failed, retried, cancelled) and the run and wait times
// (log-scale histograms, four buckets per doubling) per queue and type,
// and writes them at its end into the minute's hash: one HINCRBY per
// field of each (queue, type) it touched, whatever its batch. Maintenance
// samples the queue depths once a minute (an HSETNX claim of the minute:
// one process of the fleet takes it) and rolls ended hours up from their
// minutes. History reads either back (history.go, histmaint.go).
//
// # Errors at the storage edge
//
// storage.go translates every go-redis error once: whatever says Redis
// cannot serve the call now but may soon — unreachable, loading its data,
// a replica refusing writes, a Cluster forming or failing over — wraps
// ErrUnavailable (the API's 503); a missing job is ErrJobNotFound, said
// where a missing job is meant.
//
// # Files
//
// Which file owns what, so that a change to one concern touches one place:
//
//	doc.go          this overview
//	client.go       Config, Client, NewClient and its start-up checks, Ping
//	keys.go         every key and channel name (keyspace), the shards
//	storage.go      the error translation at the storage edge (ErrUnavailable)
//	errors.go       the engine's error values and types
//	state.go        the states of a job
//	job.go          the Job record, its hash fields, Get and GetMany
//	names.go        the name patterns of queues, types and prefixes
//
//	scripts.go      the Lua scripts: loading, runScripts (the one place a
//	                lost script cache, NOSCRIPT, is reloaded), status codes
//	lua_<name>.go   the one Go function per lua/<name>.lua: KEYS and ARGV in
//	                the order of the script's header, the reply decoded
//	luabuild.go     each script with the library definitions it uses
//	write.go        the pipelines of one round trip, WAIT for durable writes
//
//	submit.go       EnqueueParams, Enqueue, EnqueueBatch (planSubmit)
//	coalesce.go     concurrent calls sharing one batch (Enqueue, lease completions)
//	limits.go       type limits and the shard a job is created in
//	manage.go       a job's owner's transitions: Cancel, Restart, Delete
//	pipeline.go     pipelines: the model, validation and graph of a DAG of jobs
//	pipelines.go    SubmitPipeline, GetPipeline, CancelPipeline, RestartPipeline,
//	                and a job's transitions routed to its pipeline's scripts
//	pipeline_check.go the pipelines' part of CheckInvariants
//	bulk.go         the same on the jobs a list selects, a page at a time
//	list.go         List, paged over the indexes; listread.go its reads,
//	                cursor.go its cursors
//	schedule.go     Schedule: periodic jobs, their specs and records
//	scheduler.go    the Scheduler service that fires the due schedules
//	queues.go       the queue registry: Config.MaxQueues, ForgetEmptyQueues
//	pause.go        PauseQueue, ResumeQueue and Queues: the queues as operators see them
//	deadline.go     deadlines: FailPastDeadlines, run by the Maintenance
//	typerate.go     rate limits per job type: SetTypeRate, ClearTypeRate, TypeRates
//	quota.go        CheckQuota: a submitter's quota of unfinished jobs
//	block.go        Block and BlockedFor: subjects barred for a while
//	stats.go        Stats: the counters and the per-queue breakdown
//	history.go      History: per minute and hour, per queue and type, read
//	                back from what the transition scripts wrote
//	histmaint.go    SampleHistory and RollupHistory: the depths sampled once
//	                a minute across the fleet, the hours rolled up
//	check.go        CheckInvariants, the data model's consistency check
//	ratelimit.go    Allow: an API caller's request budget
//	events.go       Event, the pub/sub listener and the Hub
//	jobevents.go    Events: a job's kept events, read after an event id
//	log.go          LogLine, AppendLog: a job's log and its bounds
//	lanewatch.go    LaneWatch: a waiting lease call told of work on its lanes
//	registry.go     WorkerInfo and Workers: the registry of live workers
//	lease.go        the lease protocol of workers in any language: Lease,
//	                Announce, HeartbeatLease, CompleteLease, FailLease
//	leasecomplete.go CompleteLease(s): completions coalesced into one batch
//	leasedjobs.go   the lanes of leased jobs, kept for their completions
//	leasequeues.go  the queue registry, remembered for leases of every queue
//	deliveries.go   callbacks of ended jobs: Delivery, ClaimDeliveries,
//	                AckDelivery (package webhook sends them)
//
//	handler.go      Handler, Mux, ActiveJob, Permanent
//	worker.go       WorkerConfig, Worker, Start and Stop
//	service.go      the Start/Stop shape of every background loop
//	fetch.go        the worker's fetch loop and its waits on wake lists
//	claim.go        the claim: one claim.lua call per shard (sharded: peek, rank first)
//	run.go          one run of a handler and its final writes (fail, requeue)
//	stop.go         RunStopped: why the worker ended a handler's context
//	progress.go     a run's coalesced progress writes
//	logwriter.go    a run's log lines (ActiveJob.Log), written in batches
//	complete.go     the completer service: completions acknowledged in batches
//	heartbeat.go    the heartbeat service: registry entry and leases kept alive
//	sampler.go      the sampler service: CPU and memory, throttling
//	maintenance.go  Promote, and the Maintenance service that runs it, Reap,
//	                Expire, the deadlines, the history samples and
//	                ForgetEmptyQueues (in every worker, or on its own)
//	reap.go         Reap: the runs of dead workers recovered
//	retention.go    Expire: finished jobs and ended pipelines removed
package queue

package queue

import "strings"

// keyspace builds every Redis key and pub/sub channel name the engine uses.
// No other file spells a key. All keys share one hash tag, "{prefix}", so
// that every Lua script touches keys of a single Redis Cluster slot; a later
// cluster port shards by giving each shard its own tag (see doc.go).
type keyspace struct {
	tag string // "{prefix}"
}

func newKeyspace(prefix string) keyspace {
	return keyspace{tag: "{" + prefix + "}"}
}

func (k keyspace) key(parts ...string) string {
	return k.tag + ":" + strings.Join(parts, ":")
}

// job is the hash holding one job's fields.
func (k keyspace) job(id string) string { return k.key("job", id) }

// pending is the sorted set of a queue's runnable jobs, scored by
// priority then submission sequence (lowest score runs first).
func (k keyspace) pending(queue string) string { return k.key("q", queue, "pending") }

// scheduled is the sorted set of a queue's jobs waiting for run_at, scored by run_at (ms).
func (k keyspace) scheduled(queue string) string { return k.key("q", queue, "scheduled") }

// retrying is the sorted set of a queue's jobs waiting out a retry backoff, scored by due time (ms).
func (k keyspace) retrying(queue string) string { return k.key("q", queue, "retrying") }

// wake is the list idle workers block on (BLPOP); every transition that
// makes a job of the queue runnable pushes a token onto it.
func (k keyspace) wake(queue string) string { return k.key("q", queue, "wake") }

// leases is the sorted set of running jobs, scored by lease deadline (ms).
func (k keyspace) leases() string { return k.key("leases") }

// done is the sorted set of finished jobs in one terminal state, scored by finish time (ms).
func (k keyspace) done(state State) string { return k.key("done", string(state)) }

// counts is the hash of per-state job counters (field = state name).
func (k keyspace) counts() string { return k.key("counts") }

// queues is the set of every queue name a job was ever submitted to.
func (k keyspace) queues() string { return k.key("queues") }

// seq is the counter that orders pending jobs of equal priority (FIFO).
func (k keyspace) seq() string { return k.key("seq") }

// typeRunning is the hash of running-job counts per job type.
func (k keyspace) typeRunning() string { return k.key("types", "running") }

// typeLimits is the hash of fleet-wide concurrency limits per job type.
func (k keyspace) typeLimits() string { return k.key("types", "limits") }

// rate holds one caller's request budget (the API's rate limit).
func (k keyspace) rate(caller string) string { return k.key("rate", caller) }

// unique maps a submission's unique key to the job that holds it.
func (k keyspace) unique(uniqueKey string) string { return k.key("unique", uniqueKey) }

// workers is the sorted set of registered worker ids, scored by last heartbeat (ms).
func (k keyspace) workers() string { return k.key("workers") }

// worker is the hash describing one live worker; it expires when heartbeats stop.
func (k keyspace) worker(id string) string { return k.key("worker", id) }

// workerWake is a worker's private wake list, pushed to end its blocking wait at shutdown.
func (k keyspace) workerWake(id string) string { return k.key("worker", id, "wake") }

// eventsChannel carries every job event (state changes and progress) as JSON.
func (k keyspace) eventsChannel() string { return k.key("events") }

// cancelChannel carries the id of every running job that was cancelled, so
// the worker running it stops the handler at once.
func (k keyspace) cancelChannel() string { return k.key("cancels") }

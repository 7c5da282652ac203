package queue

import (
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// keyspace builds every Redis key and pub/sub channel name the engine uses.
// No other file spells a key. All keys of one keyspace share one hash tag,
// so that every Lua script touches keys of a single Redis Cluster slot.
//
// A Client has a global keyspace, tagged {P}, for what is not per job (the
// worker registry, rate limits, the channels, the type limits' source of
// truth), and Config.Shards shard keyspaces holding the jobs and their
// indexes. With one shard (the default) the shard's tag is {P} as well, so
// the layout is exactly the unsharded one; with S > 1, shard n is tagged
// {P:s<n>.<k>} and a job lives in shard crc32(id) mod S (shards.of). The
// k makes shard n's Cluster slot fall in the n-th of S equal ranges of the
// 16384 slots (sequential tags hash unevenly: {jq:s0}..{jq:s5} put four of
// six on one master of three), so a cluster whose masters own equal slot
// ranges, as redis-cli --cluster create makes them, gets S/masters shards
// on each master.
type keyspace struct {
	tag string // "{prefix}" or "{prefix:s<n>}"
}

func newKeyspace(tag string) keyspace {
	return keyspace{tag: "{" + tag + "}"}
}

// key is the tag and parts joined by ':', built in one allocation (a
// claim or a completion names a job's key per job).
func (k keyspace) key(parts ...string) string {
	n := len(k.tag) + max(len(parts), 1)
	for _, p := range parts {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(k.tag)
	b.WriteByte(':')
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(p)
	}
	return b.String()
}

// Per-shard keys.

// job is the hash holding one job's fields.
func (k keyspace) job(id string) string { return k.key("job", id) }

// jobEvents is the list of a job's events, oldest first, bounded
// (jobevents.go): written from its first claim on, removed with the job.
func (k keyspace) jobEvents(id string) string { return k.key("jobevents", id) }

// log is the list of a job's log lines, oldest first, bounded (log.go);
// removed with the job.
func (k keyspace) log(id string) string { return k.key("log", id) }

// lane is the sorted set of the runnable jobs of one type in one queue,
// scored by priority then submission sequence (lowest score runs first).
// A worker claims from the lanes of the types it runs, so jobs of a type
// nobody serves never stand in the way of the others. (A queue name has
// no ':', so a type with one still makes an unambiguous name.)
func (k keyspace) lane(queue, typ string) string { return k.key("q", queue, "t", typ, "pending") }

// laneTypes is the set of the types of a queue's lanes: the types that
// had a runnable job in the queue since the lane was last found empty
// (forget.lua). Stats, lists and the checks walk a queue's lanes by it.
func (k keyspace) laneTypes(queue string) string { return k.key("q", queue, "types") }

// scheduled is the sorted set of a queue's jobs waiting for run_at, scored by run_at (ms).
func (k keyspace) scheduled(queue string) string { return k.key("q", queue, "scheduled") }

// retrying is the sorted set of a queue's jobs waiting out a retry backoff, scored by due time (ms).
func (k keyspace) retrying(queue string) string { return k.key("q", queue, "retrying") }

// laneWake is the list the idle workers serving a lane block on (BLPOP);
// every transition that makes a job of the lane runnable pushes a token
// onto it.
func (k keyspace) laneWake(queue, typ string) string { return k.key("q", queue, "t", typ, "wake") }

// leases is the sorted set of running jobs, scored by lease deadline (ms).
func (k keyspace) leases() string { return k.key("leases") }

// done is the sorted set of finished jobs in one terminal state, scored by finish time (ms).
func (k keyspace) done(state State) string { return k.key("done", string(state)) }

// counts is the hash of per-state job counters (field = state name).
func (k keyspace) counts() string { return k.key("counts") }

// queues is the set of every queue name a job was ever submitted to.
func (k keyspace) queues() string { return k.key("queues") }

// tallies is the hash counting jobs that ended in ways no state
// tells: past their deadline (deadline_exceeded), runs over their
// timeout reaped (timed_out). Only those paths write it.
func (k keyspace) tallies() string { return k.key("tallies") }

// typeStarts is the log of a rate-limited type's recent run starts:
// run token → start ms, those older than its period dropped by claims.
func (k keyspace) typeStarts(typ string) string { return k.key("types", "starts", typ) }

// deadlines is the sorted set of the jobs submitted with a deadline,
// scored by it (ms): the maintenance fails those not started by then.
func (k keyspace) deadlines() string { return k.key("deadlines") }

// seq is the counter that orders pending jobs of equal priority (FIFO).
func (k keyspace) seq() string { return k.key("seq") }

// typeRunning is the hash of running-job counts per job type.
func (k keyspace) typeRunning() string { return k.key("types", "running") }

// typeLimits is the hash of concurrency limits per job type. The global
// keyspace's copy is the source of truth; each shard holds a copy that its
// claims read (SetTypeLimit writes them all).
func (k keyspace) typeLimits() string { return k.key("types", "limits") }

// waiting is the sorted set of the jobs of pipelines waiting for their
// parents, scored by creation (or restart) time (ms).
func (k keyspace) waiting() string { return k.key("waiting") }

// pipeline is the hash of one pipeline: its status, counters and graph
// (pipeline.go). A pipeline and all its jobs live in one shard, its home.
func (k keyspace) pipeline(id string) string { return k.key("pipeline", id) }

// pipelinesDone is the sorted set of ended pipelines, scored by end time
// (ms): retention removes them, with their jobs, from its oldest end.
func (k keyspace) pipelinesDone() string { return k.key("pipelines", "done") }

// The claim controls beside the type limits, in the same hashes (and
// copies), so that a claim reads them with the limit it reads anyway: a
// paused queue's field, and a type's rate limit's. Their names hold a
// '|', which no type name does.
const (
	pausedPrefix = "|paused|"
	ratePrefix   = "|rate|"
)

// rateField is the field of the type limits hashes holding typ's rate
// limit, "n:period ms" (n starts per period).
func rateField(typ string) string { return ratePrefix + typ }

// pausedField is the field of the type limits hashes set while queue is paused.
func pausedField(queue string) string { return pausedPrefix + queue }

// unique maps a submission's unique key to the job that holds it.
func (k keyspace) unique(uniqueKey string) string { return k.key("unique", uniqueKey) }

// hooks is the sorted set of the callbacks to deliver (deliveries.go):
// job id → when its delivery is next due (ms). A claimed delivery's score
// is its lease's deadline, so a deliverer that dies leaves it due again.
func (k keyspace) hooks() string { return k.key("hooks") }

// workerWake is a worker's private wake list, pushed to end its blocking
// wait at shutdown; it has one per shard, beside the shard's wake lists.
func (k keyspace) workerWake(id string) string { return k.key("worker", id, "wake") }

// history is the shard's history index: a hash of "<queue>:<type>" → the
// last minute (Unix time / 60 s) that pair's history was written. The
// history itself is one hash per minute and per hour of each pair, named
// after the index (histMinute, histHour) and sharing its hash tag: the
// transition scripts, which alone know the minute by the Redis clock,
// build the minute's name from the index's (lib.lua: hist_write).
func (k keyspace) history() string { return k.key("h") }

// histMinute is the history of one queue and type in one minute (Unix
// time / 60 s): counters and histograms (history.go), kept 48 hours.
func (k keyspace) histMinute(minute int64, queue, typ string) string {
	return k.key("h", "m", strconv.FormatInt(minute, 10), queue, typ)
}

// histHour is the history of one queue and type in one hour (Unix time /
// 3600 s), rolled up by maintenance from the minutes; kept 30 days.
func (k keyspace) histHour(hour int64, queue, typ string) string {
	return k.key("h", "h", strconv.FormatInt(hour, 10), queue, typ)
}

// histRolled is the last hour (Unix time / 3600 s) rolled up into hours.
func (k keyspace) histRolled() string { return k.key("h", "rolled") }

// histSampled is the hash of the minutes whose queue depths were sampled
// (minute → the sampling process): its HSETNX is the claim that makes one
// maintenance process of the fleet take a minute's sample, and an hour's
// depths are the means over its sampled minutes. Kept 48 hours.
func (k keyspace) histSampled() string { return k.key("h", "sampled") }

// Global keys.

// layout records the number of shards the prefix's queue was created with.
func (k keyspace) layout() string { return k.key("shards") }

// rate holds one caller's request budget (the API's rate limit).
func (k keyspace) rate(caller string) string { return k.key("rate", caller) }

// owned is the sorted set of the jobs a submitter (an API caller) created
// and may not have seen finish, scored by submission time (ms): its quota
// of unfinished jobs is counted on it (quota.go).
func (k keyspace) owned(owner string) string { return k.key("owned", owner) }

// ownedPruned marks a submitter's owned set as pruned lately; it expires
// after the pause between two prunes.
func (k keyspace) ownedPruned(owner string) string { return k.key("owned", owner, "pruned") }

// block marks a subject barred for a while (the API's throttle of failed
// authentications); it expires when the bar ends.
func (k keyspace) block(subject string) string { return k.key("block", subject) }

// schedules is the sorted set of every schedule's name, all scored 0 so
// that they are ordered by name (paged with ZRANGEBYLEX).
func (k keyspace) schedules() string { return k.key("schedules") }

// schedulesDue is the sorted set of the active (not paused) schedules,
// scored by their next run time (ms): the scheduler wakes at its first.
func (k keyspace) schedulesDue() string { return k.key("schedules", "due") }

// schedule is the hash of one schedule (fields: schedule.go).
func (k keyspace) schedule(name string) string { return k.key("schedule", name) }

// workers is the sorted set of registered worker ids, scored by when their entry expires (ms).
func (k keyspace) workers() string { return k.key("workers") }

// worker is the hash describing one live worker; it expires when heartbeats stop.
func (k keyspace) worker(id string) string { return k.key("worker", id) }

// eventsChannel carries every job event (state changes and progress) as
// JSON. Scripts of every shard publish on it: classic PUBLISH reaches
// every node of a cluster, so one subscription per process hears all.
func (k keyspace) eventsChannel() string { return k.key("events") }

// watchChannel is the channel a Hub listens on while it has subscribers:
// the scripts of the hot transitions publish job events only while some
// process does (lua/lib.lua watched; events.go). Nothing is published on
// it.
func (k keyspace) watchChannel() string { return k.key("watching") }

// hubsChannel is the channel every running Hub listens on, whose
// subscribers the scripts take from the events channel's to count the
// other listeners of events (lua/lib.lua watched makes its name so too).
func hubsChannel(watch string) string { return watch + ":hubs" }

// cancelChannel carries the id of every running job that was cancelled, so
// the worker running it stops the handler at once.
func (k keyspace) cancelChannel() string { return k.key("cancels") }

// shards is the set of a prefix's shard keyspaces.
type shards []keyspace

func newShards(prefix string, n int) shards {
	if n <= 1 {
		return shards{newKeyspace(prefix)}
	}
	s := make(shards, n)
	for i := range s {
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
		for k := 0; ; k++ {
			tag := prefix + ":s" + strconv.Itoa(i) + "." + strconv.Itoa(k)
			if slot := keySlot(tag); slot >= lo && slot < hi {
				s[i] = newKeyspace(tag)
				break
			}
		}
	}
	return s
}

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// keySlot is the Redis Cluster slot of a hash tag: CRC16 (XMODEM) mod 16384.
func keySlot(tag string) int {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// index is the shard number of a job id.
func (s shards) index(id string) int {
	if len(s) == 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(id)) % uint32(len(s)))
}

// of is the keyspace of the shard holding job id.
func (s shards) of(id string) keyspace { return s[s.index(id)] }

// shardGroup is the items of one shard: their indexes into a list.
type shardGroup struct {
	shard int
	idx   []int
}

// group splits n items, the i-th of job id(i), by shard, in the order the
// shards first appear: one script call per group touches one slot.
func (s shards) group(n int, id func(i int) string) []shardGroup {
	if len(s) == 1 {
		g := shardGroup{idx: make([]int, n)}
		for i := range g.idx {
			g.idx[i] = i
		}
		return []shardGroup{g}
	}
	var out []shardGroup
	at := map[int]int{} // shard → its index in out
	for i := range n {
		sh := s.index(id(i))
		k, ok := at[sh]
		if !ok {
			k = len(out)
			at[sh] = k
			out = append(out, shardGroup{shard: sh})
		}
		out[k].idx = append(out[k].idx, i)
	}
	return out
}

// home is the shard a group of jobs is created in, named by what they
// share: "unique:<key>" for a unique key's job (the script checks and
// writes the key and the job atomically, in one slot), "type:<type>" for
// a limited type's jobs (limits.go).
func (s shards) home(name string) int {
	if len(s) == 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(name)) % uint32(len(s)))
}

// newID returns a fresh random (version 4) UUID whose shard is n. It draws
// one UUID and varies its last two bytes until the id hashes to n: about
// len(s) CRC32s of 36 bytes, and still 106 random bits.
func (s shards) newID(n int) string {
	if len(s) == 1 {
		return uuid.NewString()
	}
	for {
		u := uuid.New()
		for i := range 1 << 16 {
			u[14], u[15] = byte(i>>8), byte(i)
			if id := u.String(); s.index(id) == n {
				return id
			}
		}
	}
}

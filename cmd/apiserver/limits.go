package main

import (
	"fmt"
	"syscall"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/queue"
)

// limitFlags defines the flags that bound what one caller can make an
// apiserver (and Redis) do, and returns the function that, once the flags
// are parsed, checks them and puts them in cfg. It returns the bounds of
// the queue registry and of the schedules, which are the engine's
// (queue.Config.MaxQueues and MaxSchedules).
func limitFlags(fs *envflag.Set) func(cfg *api.Config) (maxQueues, maxSchedules int, err error) {
	bodyTimeout := fs.Duration("body-timeout", "API_BODY_TIMEOUT", api.DefaultBodyTimeout, "time a request body may take to arrive after its headers (408 and the connection closed past it)")
	maxRun := fs.Duration("max-job-timeout", "API_MAX_JOB_TIMEOUT", api.DefaultMaxJobTimeout, fmt.Sprintf("longest run a job may have (its timeout_seconds), and the timeout of jobs submitted without one; at most %s", queue.MaxTimeout))
	quota := fs.Int("job-quota", "API_JOB_QUOTA", api.DefaultJobQuota, "unfinished jobs one caller (API key, else client address) may have; past it submissions get 429 (0: no quota)")
	queues := fs.Int("max-queues", "API_MAX_QUEUES", queue.DefaultMaxQueues, "distinct queue names the queue may hold (per shard); a submission to a new queue past it gets 409 too_many_queues until empty queues are forgotten")
	schedules := fs.Int("max-schedules", "API_MAX_SCHEDULES", queue.DefaultMaxSchedules, "schedules there may be; creating one more gets 409 too_many_schedules")
	listBytes := fs.Int("list-page-bytes", "API_LIST_PAGE_BYTES", queue.DefaultListBytes, "bytes of job fields one list page may hold (payloads and results when asked for); past it the page ends early with a cursor")
	maxStreams := fs.Int("max-streams", "API_MAX_STREAMS", 0, fmt.Sprintf("SSE streams and long polls open at once on this instance, 429 past it (0: half the open-file limit, at most %d)", api.DefaultMaxStreams))
	perCaller := fs.Int("max-streams-per-caller", "API_MAX_STREAMS_PER_CALLER", api.DefaultMaxStreamsPerCaller, "SSE streams and long polls one caller (API key, else client address) may hold open on this instance, 429 past it")
	tokenTTL := fs.Duration("stream-token-ttl", "API_STREAM_TOKEN_TTL", api.DefaultStreamTokenTTL, "how long a stream token (POST .../stream-token) opens its job's stream")
	tokenSecret := fs.String("token-secret", "API_TOKEN_SECRET", "", "secret that signs stream tokens, the same on every apiserver (empty: derived from the API keys)")
	authFailures := fs.String("auth-failure-limit", "API_AUTH_FAILURE_LIMIT", "10/m", "failed authentications per client address across all instances before the address is barred (429), e.g. 10/m (empty: no throttle)")
	return func(cfg *api.Config) (int, int, error) {
		switch {
		case *bodyTimeout <= 0 || *tokenTTL <= 0:
			return 0, 0, fmt.Errorf("API_BODY_TIMEOUT and API_STREAM_TOKEN_TTL must be positive")
		case *maxRun <= 0 || *maxRun > queue.MaxTimeout:
			return 0, 0, fmt.Errorf("max job timeout %s: want more than 0 and at most %s", *maxRun, queue.MaxTimeout)
		case *quota < 0:
			return 0, 0, fmt.Errorf("job quota %d: want 0 (none) or more", *quota)
		case *queues <= 0 || *listBytes <= 0 || *schedules <= 0:
			return 0, 0, fmt.Errorf("API_MAX_QUEUES, API_MAX_SCHEDULES and API_LIST_PAGE_BYTES must be positive")
		case *maxStreams < 0 || *perCaller <= 0:
			return 0, 0, fmt.Errorf("API_MAX_STREAMS must be 0 (automatic) or more, API_MAX_STREAMS_PER_CALLER 1 or more")
		}
		authLimit, err := api.ParseRateLimit(*authFailures, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("API_AUTH_FAILURE_LIMIT: %w", err)
		}
		cfg.BodyTimeout, cfg.MaxJobTimeout, cfg.ListBytes = *bodyTimeout, *maxRun, *listBytes
		cfg.MaxStreams, cfg.MaxStreamsPerCaller = *maxStreams, *perCaller
		if *maxStreams == 0 {
			cfg.MaxStreams = autoMaxStreams()
		}
		cfg.StreamTokenTTL, cfg.TokenSecret = *tokenTTL, *tokenSecret
		cfg.AuthFailureLimit = &authLimit
		cfg.JobQuota = *quota
		if *quota == 0 {
			cfg.JobQuota = -1 // none
		}
		return *queues, *schedules, nil
	}
}

// autoMaxStreams is API_MAX_STREAMS when not set: half the process's
// open-file limit (Go raises the soft limit to the hard one at start-up),
// leaving the other half to the other clients, Redis and the listener;
// at most api.DefaultMaxStreams.
func autoMaxStreams() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == 0 {
		return api.DefaultMaxStreams
	}
	return int(max(1, min(l.Cur/2, api.DefaultMaxStreams)))
}

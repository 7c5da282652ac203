// Package api owns the HTTP edge of the job queue: the /api/v1/jobs
// endpoints of the Jobs API (compatible with Compileo's Jobs API: status,
// long poll, SSE stream, queue stats, cancel, restart) and the ones beyond
// it (submit, batch submit,
// list, get, delete, workers, and the lease protocol of workers in any
// language, leases.go), plus /healthz and /readyz, and the OpenAPI
// document of them all (openapi.json, served at /api/v1/openapi.json).
//
// It owns the mapping of requests to the engine (package queue) and of
// engine errors to HTTP: one table maps errors to a status and a stable
// code, and one writeError function writes every error body,
// {"error": {"code": "...", "message": "..."}}. It knows nothing of Redis
// beyond what Queue and Events expose, and keeps nothing about a job in
// memory: any instance answers any request, because long polls and streams
// wait on the process's one event Hub (one Redis pub/sub connection) and
// read the job's state from Redis.
//
// docs/api.md describes every endpoint, the error codes, the SSE event
// format and reconnection, and the queue_health rules.
package api

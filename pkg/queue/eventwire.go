package queue

import "strings"

// eventWire is an Event as the scripts publish it (lua/lib.lua add_event).
type eventWire struct {
	JobID string `json:"job_id"`
	// JobIDs, set instead of JobID, names jobs that made the same change
	// at once (lua/lib.lua add_pending_events): an event of each.
	JobIDs      []string `json:"job_ids"`
	Status      State    `json:"status"`
	Progress    float64  `json:"progress"`
	CurrentStep string   `json:"current_step"`
	Version     int64    `json:"version"`
	UpdatedAtMS int64    `json:"updated_at"`
	Type        string   `json:"type"`
	Queue       string   `json:"queue"`
	PipelineID  string   `json:"pipeline_id"`
	// A log line's (lua/log.lua): set instead of the state's fields.
	Level   string `json:"level"`
	Message string `json:"message"`
	TimeMS  int64  `json:"time"`
}

// eventJobIDs calls found with each job id a message's events name, until
// it returns true; it reports whether one did, or the message is
// malformed (for the decoder to say so).
func eventJobIDs(payload string, found func(id string) bool) bool {
	const key = `"job_id`
	for rest := payload; ; {
		i := strings.Index(rest, key)
		if i < 0 {
			return false
		}
		rest = rest[i+len(key):]
		switch {
		case strings.HasPrefix(rest, `":"`):
			rest = rest[3:]
			end := strings.IndexByte(rest, '"')
			if end < 0 {
				return true
			}
			if found(rest[:end]) {
				return true
			}
			rest = rest[end:]
		case strings.HasPrefix(rest, `s":[`):
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return true
			}
			for list := rest[4:end]; list != ""; {
				q, more, _ := strings.Cut(list, ",")
				if found(strings.Trim(q, `"`)) {
					return true
				}
				list = more
			}
			rest = rest[end:]
		}
	}
}

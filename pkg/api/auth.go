package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// Who may do what. With Config.Keys empty the API is open (as Compileo's
// Jobs API is); with keys, every /api/v1 route needs one whose role allows it,
// while /healthz and /readyz stay open for load balancers, and
// /api/v1/openapi.json for anyone (it describes, it reveals nothing).

// Role is what an API key may do. Read, submit and admin are ordered:
// each allows what the ones before it allow. Worker stands beside them:
// it reads, and takes and runs jobs over the lease protocol, but submits
// nothing and changes no job it does not hold; admin allows it too.
type Role int

// The roles.
const (
	// RoleRead: status, poll, stream, stats, lists and workers.
	RoleRead Role = iota + 1
	// RoleSubmit: RoleRead, and submitting jobs.
	RoleSubmit
	// RoleAdmin: everything: RoleSubmit, RoleWorker, and cancel, restart
	// and delete.
	RoleAdmin
	// RoleWorker: RoleRead, and the lease protocol (/api/v1/leases).
	RoleWorker
)

var roleNames = map[Role]string{RoleRead: "read", RoleSubmit: "submit", RoleAdmin: "admin", RoleWorker: "worker"}

// allows reports whether a key of role r may do what needs role need.
func (r Role) allows(need Role) bool {
	switch {
	case r == RoleAdmin || r == need || need == RoleRead:
		return true
	case r == RoleWorker || need == RoleWorker:
		return false
	}
	return r >= need
}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: want read, submit, worker or admin", s)
}

// Key is one API key. Only a digest of its secret is kept in memory.
type Key struct {
	// Name identifies the key in logs and rate limits; never the secret.
	Name   string
	Role   Role
	digest [sha256.Size]byte
}

// What a secret must have to stay out of guessing range (CheckSecret).
const (
	minSecretLen = 16
	// minSecretBits is the least length × log2(alphabet) a secret may
	// have, its alphabet being the character classes it uses (26 lower,
	// 26 upper, 10 digits, 33 others): 16 hex digits make 82 bits, 16
	// digits only 53.
	minSecretBits = 64
	// minSecretSpread is the least Shannon entropy of a secret's own
	// characters, in bits per character: long runs and short cycles
	// ("aaaa...", "abcabc...") fall below it, random strings of any
	// alphabet of 8 or more characters stay well above.
	minSecretSpread = 2.5
)

// errWeakSecret never quotes the secret.
var errWeakSecret = fmt.Errorf("secret too weak: want %d or more characters with about %d bits of randomness "+
	"(e.g. 22 random letters and digits) and no long repeats; `jobctl keygen` prints a strong key", minSecretLen, minSecretBits)

// CheckSecret tells whether secret is strong enough for an API key: long
// enough, drawn from a large enough alphabet, and not repetitive. The
// error never quotes the secret.
func CheckSecret(secret string) error {
	if len(secret) < minSecretLen {
		return errWeakSecret
	}
	var lower, upper, digit, other bool
	freq := map[rune]int{}
	n := 0
	for _, r := range secret {
		switch {
		case 'a' <= r && r <= 'z':
			lower = true
		case 'A' <= r && r <= 'Z':
			upper = true
		case '0' <= r && r <= '9':
			digit = true
		default:
			other = true
		}
		freq[r]++
		n++
	}
	pool := 0
	for _, c := range []struct {
		used bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.used {
			pool += c.size
		}
	}
	spread := 0.0
	for _, k := range freq {
		p := float64(k) / float64(n)
		spread -= p * math.Log2(p)
	}
	if float64(n)*math.Log2(float64(pool)) < minSecretBits || spread < minSecretSpread {
		return errWeakSecret
	}
	return nil
}

// NewKey makes a key from its name, role and secret.
func NewKey(name string, role Role, secret string) (Key, error) {
	switch {
	case name == "" || strings.ContainsAny(name, ":, \t\n"):
		return Key{}, fmt.Errorf("api key name %q: want a non-empty name without ':', ',' or spaces", name)
	case roleNames[role] == "":
		return Key{}, fmt.Errorf("api key %s: unknown role %d", name, role)
	}
	if err := CheckSecret(secret); err != nil {
		return Key{}, fmt.Errorf("api key %s: %w", name, err)
	}
	return Key{Name: name, Role: role, digest: sha256.Sum256([]byte(secret))}, nil
}

// ParseKeys reads keys written "name:role:secret", separated by commas or
// newlines (the API_KEYS variable, or the lines of API_KEYS_FILE). Blank
// entries and lines starting with # are skipped. Names and secrets must
// be unique. Errors name an entry by its place (1 for the first key) and
// quote nothing of it: an entry whose fields are out of order may hold a
// secret where its name or role should be.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]bool{}
	for _, entry := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		k, err := parseKeyEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("api key entry %d: %w", len(keys)+1, err)
		}
		if names[k.Name] || digests[k.digest] {
			return nil, fmt.Errorf("api key entry %d: name or secret used twice", len(keys)+1)
		}
		names[k.Name], digests[k.digest] = true, true
		keys = append(keys, k)
	}
	return keys, nil
}

// parseKeyEntry reads one "name:role:secret"; its errors quote nothing of
// the entry (ParseKeys).
func parseKeyEntry(entry string) (Key, error) {
	parts := strings.SplitN(entry, ":", 3)
	if len(parts) != 3 {
		return Key{}, errors.New("want name:role:secret")
	}
	if parts[0] == "" || strings.ContainsAny(parts[0], ", \t") {
		return Key{}, errors.New("want a non-empty name without ':', ',' or spaces")
	}
	role, err := ParseRole(parts[1])
	if err != nil {
		return Key{}, errors.New("unknown role: want read, submit, worker or admin")
	}
	if err := CheckSecret(parts[2]); err != nil {
		return Key{}, err
	}
	return NewKey(parts[0], role, parts[2])
}

// callerKey and roleKey are the gin context keys under which require
// stores the caller and its role.
const (
	callerKey = "jobqueue.caller"
	roleKey   = "jobqueue.role"
)

// presentedSecret finds the key a request carries: "Authorization: Bearer
// <key>" or "X-API-Key: <key>". Never the URL: URLs end up in logs (a
// browser's EventSource, which cannot set headers, sends a stream token
// instead: tokens.go).
func presentedSecret(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.Header.Get("X-API-Key")
}

// lookup finds the key whose secret is s. It compares s's digest with
// every key's in constant time and never stops early, so neither the time
// taken nor which key matched tells anything about the secrets.
func (s *server) lookup(secret string) (Key, bool) {
	d := sha256.Sum256([]byte(secret))
	var found Key
	match := 0
	for _, k := range s.cfg.Keys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found, match = k, 1
		}
	}
	return found, match == 1
}

var (
	errUnauthenticated = &requestError{http.StatusUnauthorized, CodeUnauthenticated,
		"an API key is required: send it as \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\""}
	errBadKey = &requestError{http.StatusUnauthorized, CodeUnauthenticated, "the API key is not valid"}
)

// require admits a request whose caller may act as role and is within
// its rate limit: 401 without a valid key (when keys are configured), 403
// when the key's role is too weak, 429 over the rate limit or while the
// client's address is barred for failed authentications. The caller —
// the key's name, or the client's address without keys — is the rate
// limit's subject.
func (s *server) require(role Role) gin.HandlerFunc {
	return func(c *gin.Context) { s.authorize(c, role, false) }
}

// requireStream is require(RoleRead) for a job's stream (or a
// pipeline's), which also takes a stream token for that job (or
// pipeline) in place of a key (tokens.go).
func (s *server) requireStream(c *gin.Context) { s.authorize(c, RoleRead, true) }

// authorize is require (and requireStream, when tokens is set): it
// names the caller and its role, or answers the refusal.
func (s *server) authorize(c *gin.Context, role Role, tokens bool) {
	// Without keys everyone may do everything.
	caller, callerRole := "ip:"+c.ClientIP(), RoleAdmin
	if len(s.cfg.Keys) > 0 {
		k, ok := s.authenticate(c, tokens)
		if !ok {
			return
		}
		if !k.Role.allows(role) {
			s.writeError(c, &requestError{http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("API key %s has role %s; this needs %s", k.Name, k.Role, role)})
			return
		}
		caller, callerRole = "key:"+k.Name, k.Role
	}
	c.Set(callerKey, caller)
	c.Set(roleKey, callerRole)
	if !s.withinRate(c, caller) {
		return
	}
	c.Next()
}

// authenticate finds the key of a request: the one it sends, or, when
// tokens is set and it sends none, the one its stream token was minted
// for. Otherwise it answers the refusal (401, or 429 for a barred address)
// and reports false.
func (s *server) authenticate(c *gin.Context, tokens bool) (Key, bool) {
	if s.barred(c) {
		return Key{}, false
	}
	secret := presentedSecret(c.Request)
	if token := c.Query("token"); tokens && secret == "" && token != "" {
		return s.tokenKey(c, token)
	}
	if secret == "" {
		c.Header("WWW-Authenticate", `Bearer realm="jobqueue"`)
		s.writeError(c, errUnauthenticated)
		return Key{}, false
	}
	k, ok := s.lookup(secret)
	if !ok {
		s.failedAuth(c, errBadKey)
	}
	return k, ok
}

// authSubject is who failed authentications are counted against: the
// client's address (a wrong key names no one).
func authSubject(c *gin.Context) string { return "auth:ip:" + c.ClientIP() }

// barred answers 429 when the client's address is barred for failing to
// authenticate too often (Config.AuthFailureLimit). When Redis cannot be
// asked it lets the request through, as withinRate does.
func (s *server) barred(c *gin.Context) bool {
	if !s.cfg.AuthFailureLimit.Enabled() {
		return false
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	d, err := s.q.BlockedFor(ctx, authSubject(c))
	if err != nil {
		s.logFor(c).Warn("auth throttle unavailable: request let through", "err", err)
		return false
	}
	if d <= 0 {
		return false
	}
	s.refuseBarred(c, d)
	return true
}

// failedAuth answers a key (or stream token) that is not valid: refusal
// (a 401), or, once the address has spent its budget of failures, 429 and
// a bar on the address for as long as the budget needs to allow one more
// try.
func (s *server) failedAuth(c *gin.Context, refusal *requestError) {
	if l := *s.cfg.AuthFailureLimit; l.Enabled() {
		ctx, cancel := s.redisCtx(c)
		defer cancel()
		d, err := s.q.Allow(ctx, "fail:"+authSubject(c), l)
		if err == nil && !d.Allowed {
			if err := s.q.Block(ctx, authSubject(c), d.RetryAfter); err != nil {
				s.logFor(c).Warn("auth throttle: could not bar the address", "err", err)
			}
			s.logFor(c).Warn("too many failed authentications: address barred", "client", c.ClientIP(), "for", d.RetryAfter)
			s.refuseBarred(c, d.RetryAfter)
			return
		}
	}
	c.Header("WWW-Authenticate", `Bearer realm="jobqueue", error="invalid_token"`)
	s.writeError(c, refusal)
}

// refuseBarred answers 429 to a barred address, with Retry-After.
func (s *server) refuseBarred(c *gin.Context, d time.Duration) {
	secs := max(1, int((d+time.Second-1)/time.Second))
	c.Header("Retry-After", strconv.Itoa(secs))
	c.Header("Connection", "close")
	s.writeError(c, &requestError{http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("too many failed authentications from this address; retry in %d s", secs)})
}

// withinRate takes one request from caller's budget; over it, it answers
// 429 with Retry-After. When Redis cannot be asked it lets the request
// through (failing open): the request meets the same Redis and answers
// for itself.
func (s *server) withinRate(c *gin.Context, caller string) bool {
	if !s.cfg.RateLimit.Enabled() {
		return true
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	d, err := s.q.Allow(ctx, caller, s.cfg.RateLimit)
	if err != nil {
		s.logFor(c).Warn("rate limit unavailable: request let through", "caller", caller, "err", err)
		return true
	}
	c.Header("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	if d.Allowed {
		return true
	}
	secs := max(1, int((d.RetryAfter+time.Second-1)/time.Second))
	c.Header("Retry-After", strconv.Itoa(secs))
	s.writeError(c, &requestError{http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("rate limit of %d requests per %s exceeded; retry in %d s", s.cfg.RateLimit.Rate, s.cfg.RateLimit.Period, secs)})
	return false
}

// whoami tells the caller who the API takes it for and what its role
// allows, so that a client such as the dashboard offers only what it may
// do. Without keys the role is admin: everything is allowed.
func (s *server) whoami(c *gin.Context) {
	role, _ := c.Get(roleKey)
	c.JSON(http.StatusOK, gin.H{"caller": callerOf(c), "role": role.(Role).String()})
}

// callerOf is the request's caller as require identified it ("key:<name>"
// or "ip:<address>"), for logs; "" before require ran.
func callerOf(c *gin.Context) string { return c.GetString(callerKey) }

// ParseRateLimit reads a rate written "<count>/<unit>", the unit being s,
// m, h or a duration ("100/s", "6000/m", "50/10s"), with a burst (0: the
// count). The empty string is no limit.
func ParseRateLimit(spec string, burst int) (queue.RateLimit, error) {
	if spec == "" {
		return queue.RateLimit{}, nil
	}
	count, unit, ok := strings.Cut(spec, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n <= 0 {
		return queue.RateLimit{}, fmt.Errorf("rate limit %q: want <count>/<unit>, e.g. 100/s", spec)
	}
	period, ok := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if !ok {
		if period, err = time.ParseDuration(unit); err != nil || period <= 0 {
			return queue.RateLimit{}, fmt.Errorf("rate limit %q: unit %q is not s, m, h or a duration", spec, unit)
		}
	}
	l := queue.RateLimit{Rate: n, Period: period, Burst: burst}
	return l, l.Validate()
}

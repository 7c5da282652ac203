package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Stream tokens stand in for an API key where a client cannot send
// headers: a browser's EventSource puts everything in the URL, and URLs
// end up in proxy logs (nginx logs the whole request line of every
// upstream error). A token opens one job's stream (or one pipeline's)
// only, for a few minutes, and names the key that asked for it (whose role and rate limit
// apply). It is an HMAC the apiservers all check without asking anyone:
// the secret is Config.TokenSecret, or one every instance derives from the
// same API keys.

// DefaultStreamTokenTTL is how long a stream token opens its stream.
const DefaultStreamTokenTTL = 5 * time.Minute

// tokenPrefix starts every token: a version, should the format change.
const tokenPrefix = "st1."

// tokenSigner mints and checks stream tokens.
type tokenSigner struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// newTokenSigner signs with secret, or, when it is empty, with a secret
// derived from the keys' digests (in a fixed order), so that instances
// configured with the same keys agree without more configuration.
func newTokenSigner(secret string, keys []Key, ttl time.Duration) *tokenSigner {
	ts := &tokenSigner{secret: []byte(secret), ttl: ttl, now: time.Now}
	if secret == "" {
		digests := make([][]byte, 0, len(keys))
		for _, k := range keys {
			digests = append(digests, k.digest[:])
		}
		slices.SortFunc(digests, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
		h := sha256.New()
		h.Write([]byte("jobqueue stream tokens v1\n"))
		for _, d := range digests {
			h.Write(d)
		}
		ts.secret = h.Sum(nil)
	}
	return ts
}

func (ts *tokenSigner) mac(claims string) []byte {
	m := hmac.New(sha256.New, ts.secret)
	m.Write([]byte(claims))
	return m.Sum(nil)
}

// mint returns a token for the stream of subject (tokenSubject: a job's
// id, or a pipeline's with pipelineSubject's prefix) on behalf of key
// (its name; "" without keys), and when it expires.
func (ts *tokenSigner) mint(id, key string) (string, time.Time) {
	exp := ts.now().Add(ts.ttl).Truncate(time.Second)
	claims := id + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + key
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString(ts.mac(claims)), exp
}

var (
	errBadToken     = errors.New("stream token not valid")
	errTokenExpired = errors.New("stream token expired")
)

// verify returns the name of the key a token was minted for, if it is
// one of ours, unexpired, and for the stream of subject id.
func (ts *tokenSigner) verify(token, id string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	c64, m64, ok2 := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding
	claims, err1 := enc.DecodeString(c64)
	mac, err2 := enc.DecodeString(m64)
	if !ok || !ok2 || err1 != nil || err2 != nil || !hmac.Equal(mac, ts.mac(string(claims))) {
		return "", errBadToken
	}
	parts := strings.SplitN(string(claims), "|", 3)
	if len(parts) != 3 || parts[0] != id {
		return "", errBadToken
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", errBadToken
	}
	if !ts.now().Before(time.Unix(exp, 0)) {
		return "", errTokenExpired
	}
	return parts[2], nil
}

// streamTokenView is POST .../stream-token's answer.
type streamTokenView struct {
	Token     string    `json:"token"`
	ExpiresAt timestamp `json:"expires_at"`
	// StreamURL is the stream's path with the token, ready for EventSource.
	StreamURL string `json:"stream_url"`
}

// streamToken answers POST /api/v1/jobs/status/{job_id}/stream-token: a
// token that opens the job's stream for Config.StreamTokenTTL, on behalf
// of the caller's key. The job must exist.
func (s *server) streamToken(c *gin.Context) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return
	}
	if _, err := s.readJob(c, id); err != nil {
		s.writeError(c, err)
		return
	}
	s.writeStreamToken(c, id, "/api/v1/jobs/status/"+id+"/stream")
}

// pipelineStreamToken answers POST
// /api/v1/pipelines/{pipeline_id}/stream-token: a token that opens the
// pipeline's stream (and no job's) as streamToken's opens a job's. The
// pipeline must exist.
func (s *server) pipelineStreamToken(c *gin.Context) {
	if _, ok := s.readPipeline(c); !ok {
		return
	}
	id := c.Param("pipeline_id")
	s.writeStreamToken(c, pipelineSubject+id, "/api/v1/pipelines/"+id+"/stream")
}

// writeStreamToken answers a token for subject's stream, at path, on
// behalf of the caller's key.
func (s *server) writeStreamToken(c *gin.Context, subject, path string) {
	key := ""
	if len(s.cfg.Keys) > 0 {
		key = strings.TrimPrefix(callerOf(c), "key:")
	}
	tok, exp := s.tokens.mint(subject, key)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, streamTokenView{Token: tok, ExpiresAt: timestamp(exp), StreamURL: path + "?token=" + tok})
}

// pipelineSubject starts the subject of a pipeline's stream token: a
// job's is its bare id, so neither opens the other's stream.
const pipelineSubject = "pipeline:"

// tokenSubject is the subject a stream request's token must name: the
// pipeline of a pipeline's stream, else the job of the path.
func tokenSubject(c *gin.Context) string {
	if id := c.Param("pipeline_id"); id != "" {
		return pipelineSubject + id
	}
	return c.Param("job_id")
}

// tokenKey finds the key a stream request's token (the token query
// parameter) was minted for, if the token is good, or answers the
// refusal. A token for another job or pipeline, forged, or of a key no longer
// configured is a failed authentication; an expired one of ours is only
// refused (EventSource reconnects with the token it has: that is no
// guessing).
func (s *server) tokenKey(c *gin.Context, token string) (Key, bool) {
	name, err := s.tokens.verify(token, tokenSubject(c))
	if errors.Is(err, errTokenExpired) {
		c.Header("WWW-Authenticate", `Bearer realm="jobqueue", error="invalid_token"`)
		s.writeError(c, errBadTokenAnswer)
		return Key{}, false
	}
	if err == nil {
		for _, k := range s.cfg.Keys {
			if k.Name == name {
				return k, true
			}
		}
	}
	s.failedAuth(c, errBadTokenAnswer)
	return Key{}, false
}

var errBadTokenAnswer = &requestError{http.StatusUnauthorized, CodeUnauthenticated,
	"the stream token is not valid for this stream, or has expired: ask POST /api/v1/jobs/status/{job_id}/stream-token (or /api/v1/pipelines/{pipeline_id}/stream-token) for a new one"}

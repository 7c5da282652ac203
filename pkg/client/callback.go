package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a callback POST (docs/api.md, "Callbacks").
const (
	HeaderCallbackDelivery  = "Jobqueue-Delivery"
	HeaderCallbackTimestamp = "Jobqueue-Timestamp"
	HeaderCallbackSignature = "Jobqueue-Signature"
)

// DefaultCallbackMaxAge is the oldest signature VerifyCallback accepts by
// default: older ones may be replays.
const DefaultCallbackMaxAge = 5 * time.Minute

// ErrBadSignature is a callback whose signature does not verify, or is
// too old or missing.
var ErrBadSignature = errors.New("jobqueue callback: bad signature")

// VerifyCallback checks a callback POST a receiver got: its
// Jobqueue-Signature must be the HMAC-SHA256, under the deployment's
// secret, of its Jobqueue-Timestamp, a ".", and body (the raw bytes, as
// read), and the timestamp within maxAge of now (0 means
// DefaultCallbackMaxAge). It returns the delivery id to deduplicate on:
// a delivery may arrive more than once, always with the same id.
func VerifyCallback(secret string, h http.Header, body []byte, maxAge time.Duration) (deliveryID string, err error) {
	if maxAge <= 0 {
		maxAge = DefaultCallbackMaxAge
	}
	ts, err := strconv.ParseInt(h.Get(HeaderCallbackTimestamp), 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: no %s", ErrBadSignature, HeaderCallbackTimestamp)
	}
	if age := time.Since(time.Unix(ts, 0)); age > maxAge || age < -maxAge {
		return "", fmt.Errorf("%w: signed %s ago, past %s", ErrBadSignature, age.Round(time.Second), maxAge)
	}
	got, ok := strings.CutPrefix(h.Get(HeaderCallbackSignature), "sha256=")
	sig, derr := hex.DecodeString(got)
	if !ok || derr != nil {
		return "", fmt.Errorf("%w: %s is not sha256=<hex>", ErrBadSignature, HeaderCallbackSignature)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return "", ErrBadSignature
	}
	id := h.Get(HeaderCallbackDelivery)
	if id == "" {
		return "", fmt.Errorf("%w: no %s", ErrBadSignature, HeaderCallbackDelivery)
	}
	return id, nil
}

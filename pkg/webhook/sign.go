package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// The headers of a callback POST (docs/api.md, "Callbacks").
const (
	// HeaderDelivery names the delivery, the same on every attempt: a
	// receiver drops a repeated one.
	HeaderDelivery = "Jobqueue-Delivery"
	// HeaderTimestamp is when the attempt was signed, in Unix seconds.
	HeaderTimestamp = "Jobqueue-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with
	// the deployment's secret, of the timestamp, a ".", and the body.
	HeaderSignature = "Jobqueue-Signature"
)

// Signature is the HMAC-SHA256 of timestamp "." body under secret, as
// HeaderSignature carries it.
func Signature(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// sign sets the headers of one attempt of delivery id.
func sign(h http.Header, secret, id string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(HeaderDelivery, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Signature(secret, ts, body))
}

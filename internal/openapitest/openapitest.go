// Package openapitest checks real HTTP responses against an OpenAPI 3
// document, for tests: each response must be one the document lists for
// its operation and status, headers and body matching their schemas.
// Server-sent event streams are checked event by event. It takes the
// document as bytes, so the API's one embedded spec (api.OpenAPISpec)
// serves the handler's tests and the end-to-end tests alike.
package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The names, in the document's components, of what Check needs beyond
// the operations: the answers to requests no operation matches, and the
// data of one server-sent event.
const (
	noRouteResponse   = "NoRoute"          // 404 for an unknown path
	noMethodResponse  = "MethodNotAllowed" // 405 for a path served for other methods
	streamEventSchema = "StreamEvent"
	// pipelineEventSchema is the data of a pipeline's own events, on its stream.
	pipelineEventSchema = "PipelineEvent"
)

// Checker checks responses against one document. It is safe for
// concurrent use, and remembers which operation answered which status.
type Checker struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool
}

var registerDecoders sync.Once

// New loads and validates the document and prepares its router. The
// document must define the components Check relies on: the responses
// NoRoute and MethodNotAllowed and the schema StreamEvent.
func New(spec []byte) (*Checker, error) {
	registerDecoders.Do(func() {
		// The dashboard's page and files: kin-openapi decodes only JSON,
		// forms and plain text by itself; these are checked as opaque text.
		for _, ct := range []string{"text/html", "text/css", "text/javascript", "image/svg+xml", "image/png"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
	})
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi: load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: invalid document: %w", err)
	}
	for _, name := range []string{noRouteResponse, noMethodResponse} {
		if doc.Components.Responses[name] == nil {
			return nil, fmt.Errorf("openapi: components.responses.%s is missing", name)
		}
	}
	if doc.Components.Schemas[streamEventSchema] == nil {
		return nil, fmt.Errorf("openapi: components.schemas.%s is missing", streamEventSchema)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: router: %w", err)
	}
	return &Checker{doc: doc, router: router, seen: map[string]bool{}}, nil
}

// Operations lists the document's operations as "METHOD /path", sorted.
func (c *Checker) Operations() []string {
	var ops []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// Seen lists what Check accepted so far, as "METHOD /path STATUS" (the
// document's path template), sorted. Requests no operation matches are
// listed as "* NoRoute 404" and "* MethodNotAllowed 405".
func (c *Checker) Seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.seen))
	for k := range c.seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Check checks one complete response to req: the document must list its
// status for the operation req matches, with headers and a body matching
// their schemas; an event stream must hold only well-formed events whose
// data match StreamEvent, with increasing ids. A request no operation
// matches must have been answered 404 (unknown path) or 405 (other
// methods), as components.responses.NoRoute and MethodNotAllowed say.
// CORS preflights and HEAD requests are not the document's business and
// pass unchecked.
func (c *Checker) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if err := c.check(req, status, header, body); err != nil {
		return fmt.Errorf("openapi: %s %s: %d response: %w", req.Method, req.URL.RequestURI(), status, err)
	}
	return nil
}

func (c *Checker) check(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, op, err := c.route(req, status)
	if err != nil || route == nil {
		return err
	}
	stream := isEventStream(header) && status == http.StatusOK
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
			ExcludeResponseBody: stream},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return err
	}
	if stream {
		if route.Operation.Responses.Status(status).Value.Content.Get("text/event-stream") == nil {
			return errors.New("an event stream where the document lists none")
		}
		v, err := c.newEventChecker(route, status)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if err := v.line(sc.Text()); err != nil {
				return err
			}
		}
		if len(body) > 0 && !bytes.HasSuffix(body, []byte("\n\n")) {
			return errors.New("event stream ends mid-event")
		}
	}
	c.mu.Lock()
	c.seen[op+" "+strconv.Itoa(status)] = true
	c.mu.Unlock()
	return nil
}

// route finds req's operation and names it ("GET /jobs/{id}"). For a
// request no operation matches it returns a stand-in whose only response
// is the document's answer for that case ("* NoRoute"), or an error when
// the status is not that answer's. It returns a nil route for requests
// the document does not describe.
func (c *Checker) route(req *http.Request, status int) (*routers.Route, map[string]string, string, error) {
	if req.Method == http.MethodHead ||
		(req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "") {
		return nil, nil, "", nil
	}
	route, params, err := c.router.FindRoute(req)
	var name string
	var want int
	switch {
	case err == nil:
		return route, params, req.Method + " " + route.Path, nil
	case errors.Is(err, routers.ErrPathNotFound):
		name, want = noRouteResponse, http.StatusNotFound
	case errors.Is(err, routers.ErrMethodNotAllowed):
		name, want = noMethodResponse, http.StatusMethodNotAllowed
	default:
		return nil, nil, "", err
	}
	if status != want {
		return nil, nil, "", fmt.Errorf("no operation matches the request (%v), so want %d (components.responses.%s)", err, want, name)
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(want, c.doc.Components.Responses[name]))
	return &routers.Route{Spec: c.doc, Method: req.Method, Operation: op}, nil, "* " + name, nil
}

func isEventStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/event-stream"
}

// eventChecker checks an event stream line by line.
type eventChecker struct {
	doc     *openapi3.T
	schemas map[string]string // event name ("" unnamed) → its data's schema
	lastID  int64             // the last event's id; -1 before the first
	id      string
	event   string // the current event's name
	data    bool
}

// newEventChecker checks the stream an operation answers with status.
// Its events' data match StreamEvent, or the schema its media type names
// in x-event-data; named events ("event: end") match the schemas named
// by x-named-events, and no other names are allowed.
func (c *Checker) newEventChecker(route *routers.Route, status int) (*eventChecker, error) {
	v := &eventChecker{schemas: map[string]string{"": streamEventSchema}, doc: c.doc, lastID: -1}
	mt := route.Operation.Responses.Status(status).Value.Content.Get("text/event-stream")
	if mt == nil {
		return nil, errors.New("an event stream where the document lists none")
	}
	if name, ok := mt.Extensions["x-event-data"].(string); ok {
		v.schemas[""] = name
	}
	if named, ok := mt.Extensions["x-named-events"].(map[string]any); ok {
		for event, schema := range named {
			if name, ok := schema.(string); ok {
				v.schemas[event] = name
			}
		}
	}
	for _, name := range v.schemas {
		if c.doc.Components.Schemas[name] == nil {
			return nil, fmt.Errorf("event schema %s is not in components.schemas", name)
		}
	}
	return v, nil
}

// line checks one line of the stream (without its newline).
func (v *eventChecker) line(l string) error {
	field, value, _ := strings.Cut(l, ": ")
	switch {
	case l == "": // the end of a block
		if v.data && v.id == "" && v.event == "" {
			return errors.New("event without an id")
		}
		v.id, v.data, v.event = "", false, ""
	case strings.HasPrefix(l, ":"): // a comment: the keep-alive
	case field == "id":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n <= v.lastID {
			return fmt.Errorf("event id %q after %d: want increasing integers", value, v.lastID)
		}
		v.id, v.lastID = value, n
	case field == "event":
		if _, ok := v.schemas[value]; !ok {
			return fmt.Errorf("event %q: the document names no such event", value)
		}
		v.event = value
	case field == "retry":
		if n, err := strconv.Atoi(value); err != nil || n < 0 {
			return fmt.Errorf("retry %q: want milliseconds", value)
		}
	case field == "data":
		if v.data {
			return errors.New("event with more than one data line")
		}
		var data any
		if err := json.Unmarshal([]byte(value), &data); err != nil {
			return fmt.Errorf("event data %q: %w", value, err)
		}
		name := v.schemas[v.event]
		err := v.doc.Components.Schemas[name].Value.VisitJSON(data, openapi3.VisitAsResponse(), openapi3.MultiErrors())
		if ps := v.doc.Components.Schemas[pipelineEventSchema]; err != nil && name == streamEventSchema && ps != nil {
			// A pipeline's stream carries its jobs' events and its own.
			if ps.Value.VisitJSON(data, openapi3.VisitAsResponse(), openapi3.MultiErrors()) == nil {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("event data %s does not match %s: %w", value, name, err)
		}
		v.data = true
	default:
		return fmt.Errorf("unexpected line %q in an event stream", l)
	}
	return nil
}

// Transport returns an http.RoundTripper that sends requests through next
// (http.DefaultTransport if nil) and checks every response it returns. A
// response that breaks the document becomes the request's error. An event
// stream is checked as it is read, so a client can follow it live: a bad
// event, or its end mid-event, becomes an error of the body's Read.
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{c: c, next: next}
}

type transport struct {
	c    *Checker
	next http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if isEventStream(resp.Header) && resp.StatusCode == http.StatusOK && req.Method != http.MethodHead {
		// Status and headers now; the events as the client reads them.
		if err := t.c.Check(req, resp.StatusCode, resp.Header, nil); err != nil {
			resp.Body.Close()
			return nil, err
		}
		route, _, _, err := t.c.route(req, resp.StatusCode)
		var v *eventChecker
		if err == nil {
			v, err = t.c.newEventChecker(route, resp.StatusCode)
		}
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("openapi: %s %s: %w", req.Method, req.URL.RequestURI(), err)
		}
		resp.Body = &eventReader{r: resp.Body, v: v, where: req.Method + " " + req.URL.RequestURI()}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := t.c.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// eventReader passes an event stream through, checking each line.
type eventReader struct {
	r       io.ReadCloser
	v       *eventChecker
	where   string
	partial []byte // the start of a line not yet complete
	err     error  // the first error found; every later Read returns it
}

func (e *eventReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(p)
	e.partial = append(e.partial, p[:n]...)
	for {
		i := bytes.IndexByte(e.partial, '\n')
		if i < 0 {
			break
		}
		if verr := e.v.line(string(e.partial[:i])); verr != nil {
			e.err = fmt.Errorf("openapi: %s: event stream: %w", e.where, verr)
			return n, e.err
		}
		e.partial = e.partial[i+1:]
	}
	if err == io.EOF && (len(e.partial) > 0 || e.v.id != "" || e.v.data) {
		e.err = fmt.Errorf("openapi: %s: event stream ends mid-event", e.where)
		return n, e.err
	}
	return n, err
}

func (e *eventReader) Close() error { return e.r.Close() }

package e2e

import (
	"net/http"
	"testing"

	"github.com/compileo/jobqueue/internal/openapitest"
	"github.com/compileo/jobqueue/pkg/api"
)

// specErr is why the OpenAPI document could not be loaded, if it could not.
var specErr error

// Every response these tests read from the real apiservers is checked
// against the API's OpenAPI document — the bytes the apiserver embeds and
// serves — SSE streams event by event: a response the document does not
// allow fails its request, a bad event the stream's read. It is done on
// http.DefaultTransport, which every client here uses (http.Get, the
// default client, and clients without a Transport of their own), so each
// test is checked without being written for it.
func init() {
	spec, err := openapitest.New(api.OpenAPISpec())
	if err != nil {
		specErr = err
		return
	}
	http.DefaultTransport = spec.Transport(http.DefaultTransport)
}

func TestOpenAPIDocumentChecksResponses(t *testing.T) {
	if specErr != nil {
		t.Fatalf("responses went unchecked: %v", specErr)
	}
	if _, ok := http.DefaultTransport.(*http.Transport); ok {
		t.Fatal("http.DefaultTransport does not check responses")
	}
}

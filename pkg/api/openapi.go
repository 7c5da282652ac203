package api

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPISpec is the OpenAPI 3 document of every route New serves,
// written by hand beside docs/api.md; the package's tests hold the two
// together (every gin route documented, every response they see valid).
//
//go:embed openapi.json
var openAPISpec []byte

// OpenAPISpec returns the API's OpenAPI 3.0 document (JSON), the one
// GET /api/v1/openapi.json serves. It is the one source of the spec for
// tests that check responses against it, e2e's included.
func OpenAPISpec() []byte { return bytes.Clone(openAPISpec) }

// openAPI answers GET /api/v1/openapi.json. It is open to everyone, even
// with API keys configured: it describes the API and reveals nothing.
func (s *server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPISpec)
}

package api

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// corsHandler lets browsers on origins call the API: the methods it
// serves, the headers its clients send (keys, JSON bodies, SSE resumption)
// and the ones they need to read (Location of a new job, Retry-After).
// A request from another origin is refused through refuse, so it gets the
// API's JSON 403 like every other error.
func corsHandler(origins []string, refuse func(*gin.Context, error)) gin.HandlerFunc {
	cfg := cors.Config{
		AllowMethods:  []string{"GET", "POST", "DELETE"},
		AllowHeaders:  []string{"Authorization", "X-API-Key", "Content-Type", "Last-Event-ID"},
		ExposeHeaders: []string{"Location", "Retry-After", "X-RateLimit-Remaining"},
		MaxAge:        10 * time.Minute,
	}
	if slices.Contains(origins, "*") {
		cfg.AllowAllOrigins = true
	} else {
		cfg.AllowOrigins = origins
		// gin-contrib/cors asks this only of an origin AllowOrigins does not
		// list, then aborts with a bare 403 (no body); answering here first
		// gives the client a JSON error, and the library keeps the decision.
		cfg.AllowOriginWithContextFunc = func(c *gin.Context, origin string) bool {
			refuse(c, &requestError{http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("origin %q may not call this API (API_CORS_ORIGINS)", origin)})
			return false
		}
	}
	return cors.New(cfg)
}

// crossSiteGuard refuses the state-changing requests (POST, DELETE...) a
// browser sends from another site: without it, any web page its user
// visits could submit, cancel or restart jobs on an API without keys (a
// form posts text/plain cross-site with no preflight). net/http's
// CrossOriginProtection decides, from Sec-Fetch-Site, else from Origin
// against Host; requests with neither header (curl, the SDKs) pass. The
// origins CORS allows are trusted; with CORS open to any origin ("*")
// there is no guard: the operator asked for every site.
func crossSiteGuard(origins []string, refuse func(*gin.Context, error)) (gin.HandlerFunc, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range origins {
		if o == "*" {
			return func(c *gin.Context) { c.Next() }, nil
		}
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("CORS origin %q: %w", o, err)
		}
	}
	return func(c *gin.Context) {
		if err := cop.Check(c.Request); err != nil {
			refuse(c, &requestError{http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("%s from another site refused (%v); list the site in API_CORS_ORIGINS to allow it", c.Request.Method, err)})
			return
		}
		c.Next()
	}, nil
}

package api

import (
	"slices"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// corsHandler lets browsers on origins call the API: the methods it
// serves, the headers its clients send (keys, JSON bodies, SSE resumption)
// and the ones they need to read (Location of a new job, Retry-After).
func corsHandler(origins []string) gin.HandlerFunc {
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
	}
	return cors.New(cfg)
}

package api

import (
	"github.com/tocsinhq/tocsin/internal/auth"
)

// coverageRoutes registers coverage requests: a user on call asks a colleague to take over
// part of their shifts; the colleague accepts (an override) or declines.
func (s *Server) coverageRoutes() {
	s.handle("POST /api/schedules/{id}/coverage-requests", auth.Respond, s.requestCoverage)
	// More specific than GET /api/schedules/{id}/{rest...}, which it takes over for this
	// path; scheduleCoverageRequests hands /api/schedules/name/coverage-requests back.
	s.handle("GET /api/schedules/{id}/coverage-requests", auth.Read, s.scheduleCoverageRequests)
	// Read, not ReadSelf: the list names schedules and colleagues, which a GUEST may not read.
	s.handle("GET /api/users/current/coverage-requests", auth.Read, s.currentUserCoverageRequests)
	s.handle("GET /api/coverage-requests/{id}", auth.Read, s.getCoverageRequest)
	s.handle("PUT /api/coverage-requests/{id}/accept", auth.Respond, s.acceptCoverageRequest)
	s.handle("PUT /api/coverage-requests/{id}/decline", auth.Respond, s.declineCoverageRequest)
	s.handle("PUT /api/coverage-requests/{id}/cancel", auth.Respond, s.cancelCoverageRequest)
}

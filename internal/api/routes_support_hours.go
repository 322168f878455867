package api

import "github.com/tocsinhq/tocsin/internal/auth"

// supportHoursRoutes registers the routes of support hours.
func (s *Server) supportHoursRoutes() {
	s.handle("GET /api/support-hours", auth.Read, s.listSupportHours)
	s.handle("POST /api/support-hours", auth.Configure, s.createSupportHours)
	s.handle("GET /api/support-hours/name/{name...}", auth.Read, s.supportHoursByName)
	s.handle("GET /api/support-hours/{id}", auth.Read, s.getSupportHours)
	s.handle("PUT /api/support-hours/{id}", auth.Configure, s.updateSupportHours)
	s.handle("DELETE /api/support-hours/{id}", auth.Configure, s.deleteSupportHours)
}

package api

// configRoutes registers escalation policies and alert sources.
func (s *Server) configRoutes() {
}

package api

// identityRoutes registers users, teams and API keys.
func (s *Server) identityRoutes() {
}

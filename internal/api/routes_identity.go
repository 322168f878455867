package api

import "github.com/tocsinhq/tocsin/internal/auth"

// identityRoutes registers users, teams and API keys.
func (s *Server) identityRoutes() {
	s.handle("GET /api/users", auth.Read, s.listUsers)
	s.handle("POST /api/users", auth.Administer, s.createUser)
	s.handle("GET /api/users/current", auth.ReadSelf, s.currentUser)
	s.handle("PUT /api/users/current", auth.ReadSelf, s.updateCurrentUser)
	s.handle("POST /api/users/search-email", auth.Read, s.searchUserByEmail)
	s.handle("GET /api/users/{id}", auth.Read, s.getUser) // {id} is an id or a username
	s.handle("PUT /api/users/{id}", auth.Administer, s.updateUser)
	s.handle("DELETE /api/users/{id}", auth.Administer, s.deleteUser)

	s.handle("GET /api/teams", auth.Read, s.listTeams)
	s.handle("POST /api/teams", auth.Configure, s.createTeam)
	s.handle("GET /api/teams/name/{name...}", auth.Read, s.teamByName)
	s.handle("GET /api/teams/{id}", auth.Read, s.getTeam)
	s.handle("PUT /api/teams/{id}", auth.Configure, s.updateTeam)
	s.handle("DELETE /api/teams/{id}", auth.Configure, s.deleteTeam)
	s.handle("POST /api/teams/{id}/members", auth.Configure, s.addTeamMember)
	s.handle("DELETE /api/teams/{id}/members/{userId}", auth.Configure, s.removeTeamMember)

	// tocsin's own: every user manages their own keys; an ADMIN manages anyone's.
	s.handle("GET /api/api-keys", auth.ReadSelf, s.listAPIKeys)
	s.handle("POST /api/api-keys", auth.ReadSelf, s.createAPIKey)
	s.handle("DELETE /api/api-keys/{id}", auth.ReadSelf, s.revokeAPIKey)
}

package api

import "github.com/tocsinhq/tocsin/internal/auth"

// configRoutes registers escalation policies and alert sources.
func (s *Server) configRoutes() {
	s.handle("GET /api/escalation-policies", auth.Read, s.listEscalationPolicies)
	s.handle("POST /api/escalation-policies", auth.Configure, s.createEscalationPolicy)
	s.handle("GET /api/escalation-policies/resolve", auth.Read, s.resolveEscalationPolicy)
	s.handle("GET /api/escalation-policies/name/{name...}", auth.Read, s.escalationPolicyByName)
	s.handle("GET /api/escalation-policies/{id}", auth.Read, s.getEscalationPolicy)
	s.handle("PUT /api/escalation-policies/{id}", auth.Configure, s.updateEscalationPolicy)
	s.handle("DELETE /api/escalation-policies/{id}", auth.Configure, s.deleteEscalationPolicy)
	s.handle("PUT /api/escalation-policies/{id}/levels/{level}", auth.Configure, s.setEscalationPolicyLevel)

	s.handle("GET /api/alert-sources", auth.Read, s.listAlertSources)
	s.handle("POST /api/alert-sources", auth.Configure, s.createAlertSource)
	s.handle("GET /api/alert-sources/name/{name...}", auth.Read, s.alertSourceByName)
	s.handle("GET /api/alert-sources/{idOrKey}", auth.Read, s.getAlertSource)
	s.handle("PUT /api/alert-sources/{id}", auth.Configure, s.updateAlertSource)
	s.handle("POST /api/alert-sources/{id}/simulate", auth.Configure, s.simulateEvent)
	s.handle("DELETE /api/alert-sources/{id}", auth.Configure, s.deleteAlertSource)
}

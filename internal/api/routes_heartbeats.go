package api

import "github.com/tocsinhq/tocsin/internal/auth"

// heartbeatRoutes registers heartbeat monitors and their ping URLs.
func (s *Server) heartbeatRoutes() {
	s.handle("GET /api/heartbeat-monitors", auth.Read, s.listHeartbeatMonitors)
	s.handle("POST /api/heartbeat-monitors", auth.Configure, s.createHeartbeatMonitor)
	s.handle("GET /api/heartbeat-monitors/name/{name...}", auth.Read, s.heartbeatMonitorByName)
	s.handle("GET /api/heartbeat-monitors/{id}", auth.Read, s.getHeartbeatMonitor)
	s.handle("PUT /api/heartbeat-monitors/{id}", auth.Configure, s.updateHeartbeatMonitor)
	s.handle("DELETE /api/heartbeat-monitors/{id}", auth.Configure, s.deleteHeartbeatMonitor)

	// Pings: the key in the path is the credential. A GET pattern serves HEAD too. The legacy
	// heartbeat paths and the beat host's /api/pings are one and the same here.
	for _, path := range []string{"/api/heartbeats/{key}", "/api/v1/heartbeats/{key}", "/api/pings/{key}"} {
		s.public("GET "+path, s.ping)
		s.public("POST "+path, s.ping)
	}
}

package api

import "github.com/tocsinhq/tocsin/internal/auth"

// maintenanceRoutes registers maintenance windows.
func (s *Server) maintenanceRoutes() {
	s.handle("GET /api/maintenance-windows", auth.Read, s.listMaintenanceWindows)
	s.handle("POST /api/maintenance-windows", auth.Configure, s.createMaintenanceWindow)
	s.handle("GET /api/maintenance-windows/{id}", auth.Read, s.getMaintenanceWindow)
	s.handle("PUT /api/maintenance-windows/{id}", auth.Configure, s.updateMaintenanceWindow)
	s.handle("DELETE /api/maintenance-windows/{id}", auth.Configure, s.deleteMaintenanceWindow)
}

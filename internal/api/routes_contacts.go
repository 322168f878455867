package api

import (
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/contact"
)

// contactRoutes registers users' contacts and notification preferences. {uid} is an id, a
// username or "current"; every user manages their own, an ADMIN anyone's (contactOwner).
func (s *Server) contactRoutes() {
	const emails = "/api/users/{uid}/contacts/emails"
	s.handle("GET "+emails, auth.ReadSelf, s.listContacts(contact.KindEmail))
	s.handle("POST "+emails, auth.ReadSelf, s.createContact(contact.KindEmail))
	s.handle("POST "+emails+"/search-target", auth.ReadSelf, s.searchContact(contact.KindEmail))
	s.handle("POST "+emails+"/name", auth.ReadSelf, s.searchContact(contact.KindEmail)) // older ilert-go
	s.handle("GET "+emails+"/{id}", auth.ReadSelf, s.getContact(contact.KindEmail))
	s.handle("PUT "+emails+"/{id}", auth.ReadSelf, s.updateContact(contact.KindEmail))
	s.handle("DELETE "+emails+"/{id}", auth.ReadSelf, s.deleteContact(contact.KindEmail))

	const phones = "/api/users/{uid}/contacts/phone-numbers"
	s.handle("GET "+phones, auth.ReadSelf, s.listContacts(contact.KindPhone))
	s.handle("POST "+phones, auth.ReadSelf, s.createContact(contact.KindPhone))
	s.handle("POST "+phones+"/search-target", auth.ReadSelf, s.searchContact(contact.KindPhone))
	s.handle("POST "+phones+"/name", auth.ReadSelf, s.searchContact(contact.KindPhone)) // older ilert-go
	s.handle("GET "+phones+"/{id}", auth.ReadSelf, s.getContact(contact.KindPhone))
	s.handle("PUT "+phones+"/{id}", auth.ReadSelf, s.updateContact(contact.KindPhone))
	s.handle("DELETE "+phones+"/{id}", auth.ReadSelf, s.deleteContact(contact.KindPhone))

	// tocsin's own: webhooks that receive the alert as signed JSON.
	const webhooks = "/api/users/{uid}/contacts/webhooks"
	s.handle("GET "+webhooks, auth.ReadSelf, s.listContacts(contact.KindWebhook))
	s.handle("POST "+webhooks, auth.ReadSelf, s.createContact(contact.KindWebhook))
	s.handle("POST "+webhooks+"/search-target", auth.ReadSelf, s.searchContact(contact.KindWebhook))
	s.handle("GET "+webhooks+"/{id}", auth.ReadSelf, s.getContact(contact.KindWebhook))
	s.handle("PUT "+webhooks+"/{id}", auth.ReadSelf, s.updateContact(contact.KindWebhook))
	s.handle("DELETE "+webhooks+"/{id}", auth.ReadSelf, s.deleteContact(contact.KindWebhook))

	for _, pref := range []struct {
		path string
		kind contact.RuleKind
	}{{"alerts", contact.Alerts}, {"duties", contact.Duties}, {"updates", contact.Updates}, {"subscriptions", contact.Subscriptions}} {
		prefs := "/api/users/{uid}/notification-preferences/" + pref.path
		s.handle("GET "+prefs, auth.ReadSelf, s.listRules(pref.kind))
		s.handle("POST "+prefs, auth.ReadSelf, s.createRule(pref.kind))
		s.handle("GET "+prefs+"/{id}", auth.ReadSelf, s.getRule(pref.kind))
		s.handle("PUT "+prefs+"/{id}", auth.ReadSelf, s.updateRule(pref.kind))
		s.handle("DELETE "+prefs+"/{id}", auth.ReadSelf, s.deleteRule(pref.kind))
	}
}

package api

import (
	"net/http"

	"github.com/tocsinhq/tocsin/internal/contact"
)

// ruleInput is what a client may write on a notification preference. The contact is a
// reference: only its id is read (ilert-go sends {"id": …}; a fetched preference carries
// more). delayMin is read for alert rules, beforeMin for duty rules.
type ruleInput struct {
	Method  string `json:"method"`
	Contact *struct {
		ID int64 `json:"id"`
	} `json:"contact"`
	DelayMin  int    `json:"delayMin"`
	BeforeMin int    `json:"beforeMin"`
	Type      string `json:"type"`
}

func (b ruleInput) rule(uid int64, kind contact.RuleKind) contact.Rule {
	r := contact.Rule{UserID: uid, Kind: kind, Method: contact.Method(b.Method), Type: contact.RuleType(b.Type)}
	if b.Contact != nil {
		r.ContactID = b.Contact.ID
	}
	switch kind {
	case contact.Alerts:
		r.Minutes = b.DelayMin
	case contact.Duties:
		r.Minutes = b.BeforeMin
	}
	return r
}

// ruleContact is a preference's contact as shown: its id, and its target for people reading.
type ruleContact struct {
	ID     int64  `json:"id"`
	Target string `json:"target"`
}

// alertRuleView is ilert's NotificationPreferencesAlert.
type alertRuleView struct {
	ID       int64            `json:"id"`
	Method   contact.Method   `json:"method"`
	Contact  *ruleContact     `json:"contact"`
	DelayMin int              `json:"delayMin"`
	Type     contact.RuleType `json:"type"`
}

// dutyRuleView is ilert's NotificationPreferencesDuty.
type dutyRuleView struct {
	ID        int64            `json:"id"`
	Method    contact.Method   `json:"method"`
	Contact   *ruleContact     `json:"contact"`
	BeforeMin int              `json:"beforeMin"`
	Type      contact.RuleType `json:"type"`
}

// updateRuleView is ilert's NotificationPreferencesUpdate.
type updateRuleView struct {
	ID      int64            `json:"id"`
	Method  contact.Method   `json:"method"`
	Contact *ruleContact     `json:"contact"`
	Type    contact.RuleType `json:"type"`
}

// subscriptionRuleView is ilert's NotificationPreferencesSubscription.
type subscriptionRuleView struct {
	ID      int64          `json:"id"`
	Method  contact.Method `json:"method"`
	Contact *ruleContact   `json:"contact"`
}

func viewRule(r contact.Rule) any {
	var c *ruleContact
	if r.ContactID != 0 {
		c = &ruleContact{ID: r.ContactID, Target: r.ContactTarget}
	}
	switch r.Kind {
	case contact.Duties:
		return dutyRuleView{ID: r.ID, Method: r.Method, Contact: c, BeforeMin: r.Minutes, Type: r.Type}
	case contact.Updates:
		return updateRuleView{ID: r.ID, Method: r.Method, Contact: c, Type: r.Type}
	case contact.Subscriptions:
		return subscriptionRuleView{ID: r.ID, Method: r.Method, Contact: c}
	}
	return alertRuleView{ID: r.ID, Method: r.Method, Contact: c, DelayMin: r.Minutes, Type: r.Type}
}

func (s *Server) listRules(kind contact.RuleKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, err := s.contactOwner(r)
		if err != nil {
			return err
		}
		list, err := s.store.Rules(r.Context(), uid, kind)
		if err != nil {
			return err
		}
		out := make([]any, len(list))
		for i, rule := range list {
			out[i] = viewRule(rule)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Server) createRule(kind contact.RuleKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, err := s.contactOwner(r)
		if err != nil {
			return err
		}
		var b ruleInput
		if err := decodeJSON(r, &b); err != nil {
			return err
		}
		rule := b.rule(uid, kind)
		if err := s.store.CreateRule(r.Context(), &rule); err != nil {
			return err
		}
		s.log.InfoContext(r.Context(), "notification preference created", "rule_id", rule.ID, "kind", kind,
			"method", rule.Method, "user_id", uid, "by_user_id", callerOf(r).ID)
		writeJSON(w, http.StatusCreated, viewRule(rule))
		return nil
	}
}

func (s *Server) getRule(kind contact.RuleKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, id, err := s.ownedID(r)
		if err != nil {
			return err
		}
		rule, err := s.store.Rule(r.Context(), uid, kind, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewRule(rule))
		return nil
	}
}

// updateRule replaces a preference's method, contact, type and minutes.
func (s *Server) updateRule(kind contact.RuleKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, id, err := s.ownedID(r)
		if err != nil {
			return err
		}
		var b ruleInput
		if err := decodeJSON(r, &b); err != nil {
			return err
		}
		rule := b.rule(uid, kind)
		rule.ID = id
		if err := s.store.UpdateRule(r.Context(), &rule); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewRule(rule))
		return nil
	}
}

func (s *Server) deleteRule(kind contact.RuleKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, id, err := s.ownedID(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteRule(r.Context(), uid, kind, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// contactOwner returns the user whose contacts and notification preferences the request's
// {uid} names: "current", an id or a username. Users manage their own; an ADMIN manages
// anyone's; anyone else naming another user is Forbidden. Returns NotFound for an unknown user.
func (s *Server) contactOwner(r *http.Request) (int64, error) {
	caller := callerOf(r)
	ref := r.PathValue("uid")
	if ref == "current" || ref == strconv.FormatInt(caller.ID, 10) || (caller.Username != "" && ref == caller.Username) {
		return caller.ID, nil
	}
	if !caller.Role.Allows(auth.Administer) {
		return 0, fault.New(fault.Forbidden, "only an ADMIN may manage another user's contacts and notification preferences")
	}
	a, err := s.store.AccountByRef(r.Context(), ref)
	if err != nil {
		return 0, err
	}
	return a.ID, nil
}

// ownedID reads a request on one of a user's contacts or preferences: the owner named by {uid}
// (contactOwner) and the {id}.
func (s *Server) ownedID(r *http.Request) (uid, id int64, err error) {
	if uid, err = s.contactOwner(r); err != nil {
		return 0, 0, err
	}
	if id, err = pathID(r, "id"); err != nil {
		return 0, 0, err
	}
	return uid, id, nil
}

// contactInput is what a client may write on a contact. ilert's read-only id and status are
// ignored, so echoing back a fetched contact works.
type contactInput struct {
	Target     string `json:"target"`
	RegionCode string `json:"regionCode"` // phone numbers
	Primary    *bool  `json:"primary"`    // phone numbers; absent keeps the current value
	// RotateSecret (webhooks, on PUT) replaces the signing secret; the answer shows the new one.
	RotateSecret bool `json:"rotateSecret"`
}

// emailView is ilert's ContactEmail.
type emailView struct {
	ID     int64          `json:"id"`
	Target string         `json:"target"`
	Status contact.Status `json:"status"`
}

// phoneView is ilert's ContactPhoneNumber, plus e164: the number tocsin calls.
type phoneView struct {
	ID         int64          `json:"id"`
	RegionCode string         `json:"regionCode"`
	Target     string         `json:"target"`
	E164       string         `json:"e164"`
	Primary    bool           `json:"primary"`
	Status     contact.Status `json:"status"`
}

// webhookView is tocsin's webhook contact. The secret is shown only when it is new.
type webhookView struct {
	ID     int64          `json:"id"`
	Target string         `json:"target"`
	Status contact.Status `json:"status"`
	Secret string         `json:"secret,omitempty"`
}

func viewContact(c contact.Contact, showSecret bool) any {
	switch c.Kind {
	case contact.KindPhone:
		return phoneView{ID: c.ID, RegionCode: c.RegionCode, Target: c.Target, E164: c.Address, Primary: c.Primary, Status: c.Status}
	case contact.KindWebhook:
		v := webhookView{ID: c.ID, Target: c.Target, Status: c.Status}
		if showSecret {
			v.Secret = c.Secret
		}
		return v
	}
	return emailView{ID: c.ID, Target: c.Target, Status: c.Status}
}

// checkWebhookTarget applies the server's rule on private addresses to a webhook's target
// before the store's own checks.
func (s *Server) checkWebhookTarget(kind contact.Kind, target string) error {
	if kind != contact.KindWebhook {
		return nil
	}
	return contact.ValidateWebhookURL(strings.TrimSpace(target), s.allowPrivateWebhooks)
}

func (s *Server) listContacts(kind contact.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, err := s.contactOwner(r)
		if err != nil {
			return err
		}
		list, err := s.store.Contacts(r.Context(), uid, kind)
		if err != nil {
			return err
		}
		out := make([]any, len(list))
		for i, c := range list {
			out[i] = viewContact(c, false)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// createContact adds a contact. A webhook's answer carries its new secret, shown this once.
func (s *Server) createContact(kind contact.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, err := s.contactOwner(r)
		if err != nil {
			return err
		}
		var b contactInput
		if err := decodeJSON(r, &b); err != nil {
			return err
		}
		if err := s.checkWebhookTarget(kind, b.Target); err != nil {
			return err
		}
		c := contact.Contact{UserID: uid, Kind: kind, Target: b.Target, RegionCode: b.RegionCode, Primary: b.Primary != nil && *b.Primary}
		if err := s.store.CreateContact(r.Context(), &c); err != nil {
			return err
		}
		s.log.InfoContext(r.Context(), "contact created", "contact_id", c.ID, "kind", c.Kind, "user_id", uid, "by_user_id", callerOf(r).ID)
		writeJSON(w, http.StatusCreated, viewContact(c, true))
		return nil
	}
}

func (s *Server) getContact(kind contact.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, id, err := s.ownedID(r)
		if err != nil {
			return err
		}
		c, err := s.store.Contact(r.Context(), uid, kind, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewContact(c, false))
		return nil
	}
}

// updateContact replaces a contact's target (and a phone's region code). A phone number's
// primary flag is kept unless the body sets it.
func (s *Server) updateContact(kind contact.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, id, err := s.ownedID(r)
		if err != nil {
			return err
		}
		var b contactInput
		if err := decodeJSON(r, &b); err != nil {
			return err
		}
		old, err := s.store.Contact(r.Context(), uid, kind, id)
		if err != nil {
			return err
		}
		if err := s.checkWebhookTarget(kind, b.Target); err != nil {
			return err
		}
		c := contact.Contact{ID: id, UserID: uid, Kind: kind, Target: b.Target, RegionCode: b.RegionCode, Primary: old.Primary}
		if b.Primary != nil {
			c.Primary = *b.Primary
		}
		if err := s.store.UpdateContact(r.Context(), &c, b.RotateSecret); err != nil {
			return err
		}
		if b.RotateSecret && kind == contact.KindWebhook {
			s.log.InfoContext(r.Context(), "webhook secret rotated", "contact_id", c.ID, "user_id", uid, "by_user_id", callerOf(r).ID)
		}
		writeJSON(w, http.StatusOK, viewContact(c, b.RotateSecret))
		return nil
	}
}

// deleteContact removes a contact; a contact a notification rule uses is refused (400).
func (s *Server) deleteContact(kind contact.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, id, err := s.ownedID(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteContact(r.Context(), uid, kind, id); err != nil {
			return err
		}
		s.log.InfoContext(r.Context(), "contact deleted", "contact_id", id, "kind", kind, "user_id", uid, "by_user_id", callerOf(r).ID)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// searchContact finds a user's contact by its target, compared as contacts are (email
// addresses case-insensitively, phone numbers in E.164): 200 with the contact, or 404.
func (s *Server) searchContact(kind contact.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, err := s.contactOwner(r)
		if err != nil {
			return err
		}
		var b contactInput
		if err := decodeJSON(r, &b); err != nil {
			return err
		}
		if strings.TrimSpace(b.Target) == "" {
			return fault.Errorf("target is required")
		}
		key, ok := contact.SearchKey(kind, b.Target, b.RegionCode)
		if !ok {
			return fault.NotFoundf("user %d has no %s contact %q", uid, strings.ToLower(string(kind)), b.Target)
		}
		c, err := s.store.ContactByTarget(r.Context(), uid, kind, key)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewContact(c, false))
		return nil
	}
}

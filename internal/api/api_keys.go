package api

import (
	"net/http"
	"strconv"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// createdKey is a new API key with its secret, which is shown this once.
type createdKey struct {
	auth.APIKey
	Secret string `json:"apiKey"`
}

// keyOwner returns the user whose keys a request is about: the caller, or another user when
// an ADMIN names one. Anyone else naming another user is Forbidden.
func keyOwner(caller auth.Account, userID int64) (int64, error) {
	if userID == 0 || userID == caller.ID {
		return caller.ID, nil
	}
	if !caller.Role.Allows(auth.Administer) {
		return 0, fault.New(fault.Forbidden, "only an ADMIN may manage another user's API keys")
	}
	return userID, nil
}

// listAPIKeys serves the caller's unrevoked keys, or with ?user=<id> (ADMIN only) another user's.
func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	var userID int64
	if v := r.URL.Query().Get("user"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return fault.Errorf("user %q is not a valid id", v)
		}
		userID = id
	}
	owner, err := keyOwner(callerOf(r), userID)
	if err != nil {
		return err
	}
	keys, err := s.store.ListAPIKeys(r.Context(), owner)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, keys)
	return nil
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Name   string `json:"name"`
		UserID int64  `json:"userId"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	caller := callerOf(r)
	owner, err := keyOwner(caller, b.UserID)
	if err != nil {
		return err
	}
	k, secret, err := s.store.CreateAPIKey(r.Context(), owner, b.Name)
	if fault.Is(err, fault.NotFound) {
		return fault.Errorf("userId %d does not exist", b.UserID)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "API key created", "key_id", k.ID, "prefix", k.Prefix, "user_id", owner, "by_user_id", caller.ID)
	writeJSON(w, http.StatusCreated, createdKey{APIKey: k, Secret: secret})
	return nil
}

// revokeAPIKey stops a key from working at once. Users revoke their own keys; an ADMIN may
// revoke anyone's.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	k, err := s.store.APIKey(r.Context(), id)
	if err != nil {
		return err
	}
	caller := callerOf(r)
	if _, err := keyOwner(caller, k.UserID); err != nil {
		return err
	}
	if err := s.store.RevokeAPIKey(r.Context(), id); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "API key revoked", "key_id", k.ID, "prefix", k.Prefix, "user_id", k.UserID, "by_user_id", caller.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

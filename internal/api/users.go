package api

import (
	"net/http"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Paging of GET /api/users, as ilert documents it.
const (
	usersPageDefault = 50
	usersPageMax     = 100
)

// userBody is what a client may write on a user. Read-only fields (id, createdAt, …) are
// ignored rather than decoded, so echoing back a fetched user works.
type userBody struct {
	FirstName  string     `json:"firstName"`
	LastName   string     `json:"lastName"`
	Email      string     `json:"email"`
	Username   string     `json:"username"`
	Timezone   string     `json:"timezone"`
	Position   string     `json:"position"`
	Department string     `json:"department"`
	Language   string     `json:"language"`
	Region     string     `json:"region"`
	Role       string     `json:"role"`
	ShiftColor string     `json:"shiftColor"`
	MutedUntil *time.Time `json:"mutedUntil"`
	// Password is a tocsin extension: set on create so the user can sign in with Basic auth.
	Password string `json:"password"`
}

func (b userBody) account() auth.Account {
	return auth.Account{FirstName: b.FirstName, LastName: b.LastName, Email: b.Email, Username: b.Username,
		Timezone: b.Timezone, Position: b.Position, Department: b.Department, Language: b.Language,
		Region: b.Region, Role: auth.Role(b.Role), ShiftColor: b.ShiftColor, MutedUntil: b.MutedUntil}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, usersPageDefault, usersPageMax)
	if err != nil {
		return err
	}
	list, err := s.store.ListAccounts(r.Context(), store.Page{Start: start, Max: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// createUser adds a user. ilert's send-no-invitation parameter is accepted and has no effect:
// tocsin sends no invitations.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var b userBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	a := b.account()
	a.Normalize()
	if err := a.Validate(); err != nil { // before the slow password hash
		return err
	}
	var hash string
	if b.Password != "" {
		var err error
		if hash, err = auth.HashPassword(b.Password); err != nil {
			return err
		}
	}
	if err := s.store.CreateAccount(r.Context(), &a, hash); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "user created", "user_id", a.ID, "role", a.Role, "by_user_id", callerOf(r).ID)
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.AccountByRef(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.Account(r.Context(), callerOf(r).ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// updateUser replaces a user's profile and role. ilert-go leaves out empty fields, so a
// missing role keeps the current one rather than resetting it.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	old, err := s.store.AccountByRef(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	a, err := s.userUpdate(r, old)
	if err != nil {
		return err
	}
	if err := s.store.UpdateAccount(r.Context(), &a); err != nil {
		return err
	}
	if a.Role != old.Role {
		s.log.InfoContext(r.Context(), "user role changed", "user_id", a.ID, "from", old.Role, "to", a.Role,
			"by_user_id", callerOf(r).ID)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// updateCurrentUser lets every user, GUEST included, change their own profile, but not their
// role: sending a different role is Forbidden.
func (s *Server) updateCurrentUser(w http.ResponseWriter, r *http.Request) error {
	old, err := s.store.Account(r.Context(), callerOf(r).ID)
	if err != nil {
		return err
	}
	a, err := s.userUpdate(r, old)
	if err != nil {
		return err
	}
	if a.Role != old.Role {
		return fault.New(fault.Forbidden, "you may not change your own role")
	}
	if err := s.store.UpdateAccount(r.Context(), &a); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// userUpdate reads the body of a PUT on user old into the account to store.
func (s *Server) userUpdate(r *http.Request, old auth.Account) (auth.Account, error) {
	var b userBody
	if err := decodeJSON(r, &b); err != nil {
		return auth.Account{}, err
	}
	if b.Password != "" {
		return auth.Account{}, fault.Errorf("password can only be set when the user is created")
	}
	a := b.account()
	a.ID = old.ID
	if a.Role == "" {
		a.Role = old.Role
	}
	role, err := auth.ParseRole(string(a.Role))
	if err != nil {
		return auth.Account{}, err
	}
	a.Role = role
	return a, nil
}

// deleteUser removes a user. Callers cannot delete themselves, so an ADMIN cannot lock
// themselves out by accident.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.AccountByRef(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	caller := callerOf(r)
	if a.ID == caller.ID {
		return fault.Errorf("you cannot delete your own user")
	}
	if err := s.store.DeleteAccount(r.Context(), a.ID); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "user deleted", "user_id", a.ID, "by_user_id", caller.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// searchUserByEmail finds a user by email, case-insensitively (ilagent's policy sync and the
// Terraform ilert_user data source).
func (s *Server) searchUserByEmail(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.Email == "" {
		return fault.Errorf("email is required")
	}
	a, _, err := s.store.AccountByEmail(r.Context(), b.Email)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

package api

import (
	"net/http"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Every team handler acts on behalf of the caller (the store's methods take it), which applies
// the rules of PRIVATE teams and team roles in one place, inside the store's transaction
// (see store.manageTeam and store.seenBy): a PRIVATE team is seen by its members and account
// ADMINs only, and a team is changed only by an account ADMIN or one of its members with the
// team role ADMIN, who may not leave it without a team ADMIN.

// Paging of GET /api/teams, as ilert documents it.
const (
	teamsPageDefault = 50
	teamsPageMax     = 100
)

// teamBody is what a client may write on a team. Members name users by id only; ilert-go
// sends the rest of each user's fields empty, and they are ignored.
type teamBody struct {
	Name       string       `json:"name"`
	Visibility string       `json:"visibility"`
	Members    []memberBody `json:"members"`
}

type memberBody struct {
	User struct {
		ID int64 `json:"id"`
	} `json:"user"`
	Role string `json:"role"`
}

func (m memberBody) member() auth.TeamMember {
	return auth.TeamMember{User: auth.Account{ID: m.User.ID}, Role: auth.Role(m.Role)}
}

func (b teamBody) team() auth.Team {
	t := auth.Team{Name: b.Name, Visibility: b.Visibility, Members: make([]auth.TeamMember, len(b.Members))}
	for i, m := range b.Members {
		t.Members[i] = m.member()
	}
	return t
}

// listTeams serves GET /api/teams, without the PRIVATE teams the caller does not see;
// repeated members=<user id> keeps the teams with any of those users.
func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, teamsPageDefault, teamsPageMax)
	if err != nil {
		return err
	}
	members, err := idsParam(r, "members")
	if err != nil {
		return err
	}
	list, err := s.store.ListTeams(r.Context(), new(callerOf(r)), store.Page{Start: start, Max: limit}, members)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// createTeam adds a team. A caller who is not an account ADMIN and names no members becomes
// the team's ADMIN, so they can manage the team they created.
func (s *Server) createTeam(w http.ResponseWriter, r *http.Request) error {
	var b teamBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	t := b.team()
	if err := s.store.CreateTeam(r.Context(), new(callerOf(r)), &t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.store.Team(r.Context(), new(callerOf(r)), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// teamByName serves ilert-go's SearchTeam, which puts the name into the path unescaped; the
// {name...} wildcard keeps names holding a slash whole.
func (s *Server) teamByName(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.TeamByName(r.Context(), new(callerOf(r)), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// updateTeam replaces the name, visibility and whole member list; a body without members
// leaves the team without members.
func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b teamBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	t := b.team()
	t.ID = id
	if err := s.store.UpdateTeam(r.Context(), new(callerOf(r)), &t); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteTeam(r.Context(), new(callerOf(r)), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addTeamMember adds a user to a team, or changes the role of one already in it.
func (s *Server) addTeamMember(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b memberBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	m, err := s.store.AddTeamMember(r.Context(), new(callerOf(r)), id, b.member())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) removeTeamMember(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		return err
	}
	if err := s.store.RemoveTeamMember(r.Context(), new(callerOf(r)), id, userID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"net/http"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

// Paging of GET /api/support-hours, as ilert documents it.
const (
	supportHoursPageDefault = 50
	supportHoursPageMax     = 50
)

// supportHoursListItem is ilert's SupportHourListItem: support hours without their
// exceptions.
type supportHoursListItem struct {
	ID          int64                          `json:"id"`
	Name        string                         `json:"name"`
	Teams       []auth.TeamRef                 `json:"teams"`
	TimeZone    string                         `json:"timezone"`
	SupportDays map[string]*supporthours.Range `json:"supportDays"`
}

func (s *Server) listSupportHours(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, supportHoursPageDefault, supportHoursPageMax)
	if err != nil {
		return err
	}
	list, err := s.store.ListSupportHours(r.Context(), store.Page{Start: start, Max: limit})
	if err != nil {
		return err
	}
	out := make([]supportHoursListItem, len(list))
	for i, h := range list {
		out[i] = supportHoursListItem{ID: h.ID, Name: h.Name, Teams: h.Teams, TimeZone: h.TimeZone, SupportDays: h.SupportDays}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createSupportHours(w http.ResponseWriter, r *http.Request) error {
	var h supporthours.Hours
	if err := decodeJSON(r, &h); err != nil {
		return err
	}
	h.ID = 0
	if err := s.store.CreateSupportHours(r.Context(), &h); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h)
	return nil
}

func (s *Server) getSupportHours(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	h, err := s.store.SupportHoursByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// updateSupportHours replaces the whole support hours: days, exceptions and teams.
func (s *Server) updateSupportHours(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var h supporthours.Hours
	if err := decodeJSON(r, &h); err != nil {
		return err
	}
	h.ID = id
	if err := s.store.UpdateSupportHours(r.Context(), &h, s.nextRaise); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (s *Server) deleteSupportHours(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteSupportHours(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// supportHoursByName serves ilert-go's SearchSupportHour, which puts the name into the path
// unescaped; the {name...} wildcard keeps names holding a slash whole.
func (s *Server) supportHoursByName(w http.ResponseWriter, r *http.Request) error {
	h, err := s.store.SupportHoursByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

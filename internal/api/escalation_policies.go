package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Paging of GET /api/escalation-policies. ilert documents at most 50; tocsin allows more so
// that a client asking for a larger page is served, not refused.
const (
	policiesPageDefault = 50
	policiesPageMax     = 100
)

func (s *Server) listEscalationPolicies(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, policiesPageDefault, policiesPageMax)
	if err != nil {
		return err
	}
	list, err := s.store.Policies(r.Context(), store.Page{Start: start, Max: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) createEscalationPolicy(w http.ResponseWriter, r *http.Request) error {
	var p escalation.Policy
	if err := decodeJSON(r, &p); err != nil {
		return err
	}
	p.ID = 0
	if err := s.checkLevelTeams(r, 0, p.EscalationRules); err != nil {
		return err
	}
	if err := s.store.CreatePolicy(r.Context(), &p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) getEscalationPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.store.Policy(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// updateEscalationPolicy replaces the whole policy, levels and teams included.
func (s *Server) updateEscalationPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var p escalation.Policy
	if err := decodeJSON(r, &p); err != nil {
		return err
	}
	p.ID = id
	if err := s.checkLevelTeams(r, id, p.EscalationRules); err != nil {
		return err
	}
	if err := s.store.UpdatePolicy(r.Context(), &p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) deleteEscalationPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeletePolicy(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// escalationPolicyByName serves ilert-go's SearchEscalationPolicy, which puts the name into
// the path unescaped; the {name...} wildcard keeps names holding a slash whole.
func (s *Server) escalationPolicyByName(w http.ResponseWriter, r *http.Request) error {
	p, err := s.store.PolicyByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// resolveEscalationPolicy finds the policy of a routing key (ilagent's policy sync, step 5).
func (s *Server) resolveEscalationPolicy(w http.ResponseWriter, r *http.Request) error {
	key := r.URL.Query().Get("routing-key")
	if key == "" {
		return fault.Errorf("the routing-key parameter is required")
	}
	p, err := s.store.PolicyByRoutingKey(r.Context(), key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// setEscalationPolicyLevel replaces one existing level, counted from 0 (ilagent's policy sync,
// step 6: {"escalationTimeout": n, "users": [{"id": u}]}), and answers with the level.
func (s *Server) setEscalationPolicyLevel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v := r.PathValue("level")
	level, err := strconv.Atoi(v)
	if err != nil || level < 0 {
		return fault.Errorf("level %q is not a number of 0 or more", v)
	}
	var rule escalation.Rule
	if err := decodeJSON(r, &rule); err != nil {
		return err
	}
	if err := s.checkLevelTeams(r, id, []escalation.Rule{rule}); err != nil {
		return err
	}
	if err := s.store.SetPolicyLevel(r.Context(), id, level, &rule); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rule)
	return nil
}

// checkLevelTeams refuses, as if they did not exist, the teams on rules that the caller does
// not see (PRIVATE teams it is not a member of), unless policy (0 for a new one) names them
// already: a level pages a team's members, and its dry run lists them, so naming a hidden
// team would reveal who is in it.
func (s *Server) checkLevelTeams(r *http.Request, policy int64, rules []escalation.Rule) error {
	caller := callerOf(r)
	var before map[int64]bool // the teams policy's levels name now, read when first needed
	for _, rule := range rules {
		rule.Normalize()
		for _, t := range rule.Teams {
			_, err := s.store.Team(r.Context(), &caller, t.ID)
			if !fault.Is(err, fault.NotFound) {
				if err != nil {
					return err
				}
				continue
			}
			if before == nil {
				if before, err = s.levelTeams(r.Context(), policy); err != nil {
					return err
				}
			}
			if !before[t.ID] {
				return fault.Errorf("team %d does not exist", t.ID)
			}
		}
	}
	return nil
}

// levelTeams returns the teams the levels of policy name: none for policy 0 or one that does
// not exist.
func (s *Server) levelTeams(ctx context.Context, policy int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if policy == 0 {
		return out, nil
	}
	p, err := s.store.Policy(ctx, policy)
	if fault.Is(err, fault.NotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, l := range p.EscalationRules {
		for _, t := range l.Teams {
			out[t.ID] = true
		}
	}
	return out, nil
}

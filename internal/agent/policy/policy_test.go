package policy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/policy"
)

// server is a real tocsin with users and an escalation policy made through its API.
type server struct {
	*agenttest.Tocsin
	users    map[string]int64 // by email
	policyID int64
}

const routingKey = "powerplantthree50"

func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{Tocsin: agenttest.StartTocsin(t), users: map[string]int64{}}
	for _, name := range []string{"ada", "bob", "carol"} {
		var u struct {
			ID int64 `json:"id"`
		}
		s.Call(t, http.MethodPost, "/api/users", map[string]any{"firstName": name, "lastName": "Test",
			"email": name + "@example.com", "role": "RESPONDER"}, &u)
		s.users[name+"@example.com"] = u.ID
	}
	carol := s.users["carol@example.com"]
	var p struct {
		ID int64 `json:"id"`
	}
	s.Call(t, http.MethodPost, "/api/escalation-policies", map[string]any{"name": "plant north", "routingKey": routingKey,
		"escalationRules": []any{
			map[string]any{"escalationTimeout": 5, "users": []any{map[string]any{"id": carol}}},
			map[string]any{"escalationTimeout": 0, "users": []any{map[string]any{"id": carol}}},
		}}, &p)
	s.policyID = p.ID
	return s
}

type level struct {
	EscalationTimeout int `json:"escalationTimeout"`
	Users             []struct {
		ID int64 `json:"id"`
	} `json:"users"`
}

// levels returns each level's timeout and user ids, as the server has them.
func (s *server) levels(t *testing.T) []string {
	t.Helper()
	var p struct {
		EscalationRules []level `json:"escalationRules"`
	}
	s.Call(t, http.MethodGet, fmt.Sprintf("/api/escalation-policies/%d", s.policyID), nil, &p)
	var out []string
	for _, l := range p.EscalationRules {
		var ids []int64
		for _, u := range l.Users {
			ids = append(ids, u.ID)
		}
		out = append(out, fmt.Sprintf("timeout %d users %v", l.EscalationTimeout, ids))
	}
	return out
}

// client is an agent client with the API key given as ilagent's ILERT_API_KEY may hold it.
func (s *server) client() *client.Client { return client.New(s.Server.URL, "Bearer "+s.APIKey) }

func TestSync(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	ada, bob, carol := s.users["ada@example.com"], s.users["bob@example.com"], s.users["carol@example.com"]

	t.Run("ReplacesTheLevelKeepingItsTimeout", func(t *testing.T) {
		if err := policy.Sync(ctx, s.client(), mapping.PolicyUpdate{Email: "ada@example.com", Level: 1, RoutingKey: routingKey}); err != nil {
			t.Fatal(err)
		}
		got := s.levels(t)
		want := []string{fmt.Sprintf("timeout 5 users [%d]", carol), fmt.Sprintf("timeout 0 users [%d]", ada)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("levels: got %v, want %v", got, want)
		}
	})

	t.Run("HandlerReadsAPolicyMessage", func(t *testing.T) {
		h := policy.Handler(s.client(), mapping.PolicyOptions{PolicyRoutingKeys: "location,slot", ShiftOffset: -1})
		msg := `{"location": "powerplant", "slot": "three50", "data": {"email": "bob@example.com", "shift": "1"}}`
		if err := h(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := s.levels(t)
		want := []string{fmt.Sprintf("timeout 5 users [%d]", bob), fmt.Sprintf("timeout 0 users [%d]", ada)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("levels: got %v, want %v", got, want)
		}
	})

	t.Run("HandlerSkipsAFilteredMessage", func(t *testing.T) {
		before := s.levels(t)
		h := policy.Handler(s.client(), mapping.PolicyOptions{PolicyRoutingKeys: "location", FilterKey: "eventType", FilterVal: "active"})
		msg := `{"location": "powerplantthree50", "eventType": "inactive", "data": {"email": "carol@example.com"}}`
		if err := h(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got := s.levels(t); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("a filtered message changed the policy: %v, was %v", got, before)
		}
	})

	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"ErrUnknownUser", func() error {
			return policy.Sync(ctx, s.client(), mapping.PolicyUpdate{Email: "nobody@example.com", Level: 0, RoutingKey: routingKey})
		}},
		{"ErrUnknownPolicy", func() error {
			return policy.Sync(ctx, s.client(), mapping.PolicyUpdate{Email: "ada@example.com", Level: 0, RoutingKey: "nowhere"})
		}},
		{"ErrMissingLevel", func() error {
			return policy.Sync(ctx, s.client(), mapping.PolicyUpdate{Email: "ada@example.com", Level: 2, RoutingKey: routingKey})
		}},
		{"ErrNoAPIKey", func() error {
			return policy.Sync(ctx, client.New(s.Server.URL, ""), mapping.PolicyUpdate{Email: "ada@example.com", Level: 0, RoutingKey: routingKey})
		}},
		{"ErrUnreadableMessage", func() error {
			return policy.Handler(s.client(), mapping.PolicyOptions{PolicyRoutingKeys: "location"})(ctx, []byte(`{"location": "x"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.levels(t)
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if policy.Retryable(err) {
				t.Errorf("%v is retryable; it never succeeds", err)
			}
			if got := s.levels(t); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("the policy changed: %v, was %v", got, before)
			}
		})
	}
}

func TestSyncServerErrorsAreRetryable(t *testing.T) {
	ctx := context.Background()
	u := mapping.PolicyUpdate{Email: "ada@example.com", Level: 0, RoutingKey: routingKey}

	t.Run("Unavailable", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message": "shutting down"}`, http.StatusServiceUnavailable)
		}))
		defer hs.Close()
		err := policy.Sync(ctx, client.New(hs.URL, "k"), u)
		if err == nil || !policy.Retryable(err) {
			t.Fatalf("got %v, want a retryable error", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		hs := httptest.NewServer(http.NotFoundHandler())
		url := hs.URL
		hs.Close()
		err := policy.Sync(ctx, client.New(url, "k"), u)
		if err == nil || !policy.Retryable(err) {
			t.Fatalf("got %v, want a retryable error", err)
		}
	})
}

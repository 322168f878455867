package api_test

import (
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// An alert source's integration key opens and resolves alerts whoever holds it: only callers
// who may change the source read it.
func TestSourceKeyOnlyForConfigurers(t *testing.T) {
	ts, policy := rulesServer(t, storetest.SQLiteDSN(t))
	id, key := createRuledSource(t, ts, policy, "")
	type view struct {
		IntegrationKey string
		IntegrationURL string `json:"integrationUrl"`
	}
	one := fmt.Sprintf("/api/alert-sources/%d", id)
	for _, role := range []auth.Role{auth.Stakeholder, auth.Responder} {
		_, k := ts.user(t, role)
		if got := decodeAs[view](t, ts.must(t, 200, "GET", one, k, nil)); got.IntegrationKey != "" || got.IntegrationURL == "" {
			t.Errorf("%s reading the source: key %q, URL %q; want no key, the URL", role, got.IntegrationKey, got.IntegrationURL)
		}
		if got := decodeAs[[]view](t, ts.must(t, 200, "GET", "/api/alert-sources", k, nil)); len(got) != 1 || got[0].IntegrationKey != "" {
			t.Errorf("%s listing the sources: %+v; want no key", role, got)
		}
	}
	_, k := ts.user(t, auth.User)
	if got := decodeAs[view](t, ts.must(t, 200, "GET", one, k, nil)); got.IntegrationKey != key {
		t.Errorf("USER reading the source: key %q, want %q", got.IntegrationKey, key)
	}
}

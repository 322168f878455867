package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// wireRequest is one request ilert-go v3.19 sent to a test server (testdata/ilert-go-wire.txt).
type wireRequest struct {
	method, path, body string
}

func readWire(t *testing.T) []wireRequest {
	t.Helper()
	f, err := os.Open("testdata/ilert-go-wire.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []wireRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "   body="):
			out[len(out)-1].body = strings.TrimPrefix(line, "   body=")
		case strings.HasPrefix(line, " "):
		default:
			head, _, _ := strings.Cut(line, " | ")
			method, path, _ := strings.Cut(head, " ")
			out = append(out, wireRequest{method: method, path: path})
		}
	}
	return out
}

// The requests of the wire capture that belong to later features (heartbeats,
// schedules, deployment pipelines, alert actions, incidents) are skipped here.
var laterFeatures = []string{"/api/heartbeats/", "/api/schedules/", "/api/deployment-pipelines", "/api/alert-actions", "/api/incidents"}

// TestIlertGoWireReplay replays ilert-go's captured requests in their order, against ids that
// match the capture (user 2, policy 5, alert source 3, alert 9), and checks status codes and
// shapes: numeric ids, bare arrays, 201 on create.
func TestIlertGoWireReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn) // user 1 is the admin
		ctx := t.Context()
		u2 := auth.Account{FirstName: "A", LastName: "B", Email: "a@b.c", Role: auth.Responder}
		if err := ts.DB.CreateAccount(ctx, &u2, ""); err != nil || u2.ID != 2 {
			t.Fatalf("user 2: %v (id %d)", err, u2.ID)
		}
		storetest.NewSchedules(t, ts.DB, u2.ID, "2020-01-06T09:00", 4) // the captured policy names schedule 4
		for i := 1; i <= 5; i++ {                                      // policies 1..5
			ts.must(t, 201, "POST", "/api/escalation-policies", ts.AdminKey,
				fmt.Sprintf(`{"name":"p%d","escalationRules":[{"escalationTimeout":5,"users":[{"id":2}]}]}`, i))
		}
		// Sources 1 (whose integration key replaces the capture's too short "il1api1") and 2;
		// the replay creates 3.
		const ikey = "il1api1-0123456789abcdefghij"
		ts.must(t, 201, "POST", "/api/alert-sources", ts.AdminKey, `{"name":"one","integrationType":"API","integrationKey":"`+ikey+`","escalationPolicy":{"id":5}}`)
		ts.must(t, 201, "POST", "/api/alert-sources", ts.AdminKey, `{"name":"two","integrationType":"API","escalationPolicy":{"id":5}}`)
		supportHoursUpTo(t, ts, 7) // the captured source refers to support hours 7
		for i := 1; i <= 8; i++ {  // alerts 1..8; the replayed event opens alert 9
			ts.must(t, 202, "POST", "/api/events", "", fmt.Sprintf(`{"integrationKey":"%s","eventType":"ALERT","summary":"setup","alertKey":"setup-%d"}`, ikey, i))
		}

		want := map[string]int{
			"POST /api/events":                202,
			"POST /api/alert-sources?":        201,
			"GET /api/alert-sources":          200,
			"GET /api/alert-sources/name/src": 200,
			"GET /api/alerts":                 200,
			"PUT /api/alerts/9/accept":        200,
			"PUT /api/alerts/9/assign":        200,
			"POST /api/escalation-policies":   201,
			"POST /api/users/search-email":    200,
			"GET /api/users/current":          200,
			"POST /api/support-hours":         201,
			"DELETE /api/alert-sources/3":     204,
		}
		replayed := 0
	requests:
		for _, req := range readWire(t) {
			for _, later := range laterFeatures {
				if strings.HasPrefix(req.path, later) {
					continue requests
				}
			}
			key := req.method + " " + req.path
			if req.path != "/api/alert-sources?" {
				key, _, _ = strings.Cut(key, "?")
			}
			status, ok := want[key]
			if !ok {
				t.Fatalf("no expectation for %s", key)
			}
			replayed++
			body := ts.must(t, status, req.method, req.path, ts.AdminKey, strings.Replace(req.body, `"apiKey":"il1api1"`, `"apiKey":"`+ikey+`"`, 1))
			if status == 204 {
				continue
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: the answer is not JSON: %s", key, body)
			}
			switch x := v.(type) {
			case []any:
				if len(x) == 0 && key == "GET /api/alert-sources" {
					t.Fatalf("%s: empty list", key)
				}
				for _, item := range x {
					if _, ok := item.(map[string]any)["id"].(float64); !ok {
						t.Fatalf("%s: list item without a numeric id: %v", key, item)
					}
				}
			case map[string]any:
				if key == "POST /api/events" {
					if x["alertKey"] != "k" || x["responseCode"] != "NEW_ALERT_CREATED" || !strings.HasSuffix(x["alertUrl"].(string), "/api/alerts/9") {
						t.Fatalf("event answer: %v", x)
					}
					continue
				}
				if _, ok := x["id"].(float64); !ok {
					t.Fatalf("%s: no numeric id in %s", key, body)
				}
			default:
				t.Fatalf("%s: unexpected answer %s", key, body)
			}
			if key == "POST /api/alert-sources?" {
				var src struct {
					ID               int64           `json:"id"`
					SupportHours     json.RawMessage `json:"supportHours"`
					EscalationPolicy struct{ ID int64 }
				}
				json.Unmarshal(body, &src)
				if src.ID != 3 || src.EscalationPolicy.ID != 5 || !strings.Contains(string(src.SupportHours), `"id":7`) {
					t.Fatalf("created source: %s", body)
				}
			}
		}
		if replayed != len(want) {
			t.Fatalf("replayed %d requests, want %d", replayed, len(want))
		}
		// The accept and assign really happened on alert 9; deleting source 3 took nothing else.
		a := decodeAs[map[string]any](t, ts.must(t, 200, "GET", "/api/alerts/9", ts.AdminKey, nil))
		if a["status"] != "ACCEPTED" || a["assignedTo"].(map[string]any)["id"].(float64) != 2 {
			t.Fatalf("alert 9 after the replay: %v", a)
		}
		ts.must(t, 404, "GET", "/api/alert-sources/3", ts.AdminKey, nil)
	})
}

// TestIlagentPolicySync replays the calls of the ilagent escalation-policy sync: find the user
// by email, the policy by routing key, and replace the users of one level.
func TestIlagentPolicySync(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		alice, _ := ts.user(t, auth.Responder)
		bob, _ := ts.user(t, auth.Responder)
		_, agentKey := ts.user(t, auth.User)
		ts.must(t, 201, "POST", "/api/escalation-policies", ts.AdminKey, fmt.Sprintf(
			`{"name":"plant","routingKey":"plant-a","escalationRules":[{"escalationTimeout":10,"users":[{"id":%d}]},{"escalationTimeout":20,"users":[{"id":%d}]}]}`, alice.ID, alice.ID))

		user := decodeAs[struct{ ID int64 }](t, ts.must(t, 200, "POST", "/api/users/search-email", agentKey, `{"email": "`+strings.ToUpper(bob.Email)+`"}`))
		policy := decodeAs[struct {
			ID              int64
			EscalationRules []struct{ EscalationTimeout int }
		}](t, ts.must(t, 200, "GET", "/api/escalation-policies/resolve?routing-key=plant-a", agentKey, nil))
		body := fmt.Sprintf(`{"escalationTimeout": %d, "users": [{"id": %d}]}`, policy.EscalationRules[1].EscalationTimeout, user.ID)
		ts.must(t, 200, "PUT", fmt.Sprintf("/api/escalation-policies/%d/levels/1", policy.ID), agentKey, body)

		got := decodeAs[struct {
			EscalationRules []struct {
				EscalationTimeout int
				Users             []struct{ ID int64 }
			}
		}](t, ts.must(t, 200, "GET", fmt.Sprintf("/api/escalation-policies/%d", policy.ID), agentKey, nil))
		if r := got.EscalationRules; len(r) != 2 || r[0].Users[0].ID != alice.ID || r[1].Users[0].ID != bob.ID || r[1].EscalationTimeout != 20 {
			t.Fatalf("policy after sync: %+v", got)
		}
		// What ilagent drops: unknown email, unknown routing key, a level that does not exist.
		ts.must(t, 404, "POST", "/api/users/search-email", agentKey, `{"email":"nobody@example.com"}`)
		ts.must(t, 404, "GET", "/api/escalation-policies/resolve?routing-key=elsewhere", agentKey, nil)
		ts.must(t, 404, "PUT", fmt.Sprintf("/api/escalation-policies/%d/levels/2", policy.ID), agentKey, body)
	})
}

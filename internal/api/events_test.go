package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/api"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

type eventResp struct {
	AlertKey     string `json:"alertKey"`
	AlertURL     string `json:"alertUrl"`
	ResponseCode string `json:"responseCode"`
}

type errorResp struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

func TestEventsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		f := storetest.NewFixture(t, ts.DB)
		ikey := f.Source.IntegrationKey
		count := func() int {
			return decodeAs[struct{ Count int }](t, ts.must(t, 200, "GET", "/api/alerts/count", ts.AdminKey, nil)).Count
		}

		t.Run("IlertGoWireRequest", func(t *testing.T) {
			// ilert-go's exact body, with its stray Bearer header on an unauthenticated endpoint.
			body := `{"apiKey":"` + ikey + `","eventType":"ALERT","summary":"s","alertKey":"k","priority":"HIGH","images":[{"src":"s","href":"","alt":""}],"links":[{"text":"t","href":"h"}],"labels":{"a":"b"},"customDetails":{"x":1}}`
			r := decodeAs[eventResp](t, ts.must(t, 202, "POST", "/api/events", "tok123", body))
			if r.AlertKey != "k" || r.ResponseCode != "NEW_ALERT_CREATED" || !strings.HasPrefix(r.AlertURL, ts.URL+"/api/alerts/") {
				t.Fatalf("got %+v", r)
			}
			a := decodeAs[map[string]any](t, ts.must(t, 200, "GET", strings.TrimPrefix(r.AlertURL, ts.URL)+"?include=customDetails", ts.AdminKey, nil))
			if a["summary"] != "s" || a["status"] != "PENDING" || a["priority"] != "HIGH" || a["customDetails"] == nil {
				t.Fatalf("alert: %v", a)
			}
		})

		t.Run("DedupAcceptResolveOnEveryPath", func(t *testing.T) {
			paths := []string{"/api/events", "/api/v1/events", "/api/v1/events/mqtt/" + ikey, "/api/v1/events/kafka/" + ikey}
			for i, p := range paths {
				key := fmt.Sprintf("Host-%d/CPU", i)
				first := decodeAs[eventResp](t, ts.must(t, 202, "POST", p, "", `{"integrationKey":"`+ikey+`","eventType":"ALERT","summary":"cpu","alertKey":"`+key+`"}`))
				second := decodeAs[eventResp](t, ts.must(t, 202, "POST", p, "", `{"integrationKey":"`+ikey+`","eventType":"ALERT","summary":"cpu","alertKey":"`+strings.ToLower(key)+`"}`))
				if first.ResponseCode != "NEW_ALERT_CREATED" || second.ResponseCode != "EVENT_ADDED_TO_ALERT" || first.AlertURL != second.AlertURL {
					t.Fatalf("%s: %+v then %+v", p, first, second)
				}
				acc := decodeAs[eventResp](t, ts.must(t, 202, "POST", p, "", `{"integrationKey":"`+ikey+`","eventType":"ACCEPT","alertKey":"`+key+`","summary":null}`))
				res := decodeAs[eventResp](t, ts.must(t, 202, "POST", p, "", `{"integrationKey":"`+ikey+`","eventType":"RESOLVE","alertKey":"`+key+`"}`))
				if acc.ResponseCode != "ALERT_ACCEPTED" || res.ResponseCode != "ALERT_RESOLVED" {
					t.Fatalf("%s: accept %+v resolve %+v", p, acc, res)
				}
				again := decodeAs[eventResp](t, ts.must(t, 202, "POST", p, "", `{"integrationKey":"`+ikey+`","eventType":"ALERT","summary":"cpu","alertKey":"`+key+`"}`))
				if again.ResponseCode != "NEW_ALERT_CREATED" || again.AlertURL == first.AlertURL {
					t.Fatalf("%s: a resolved alert must not be reopened: %+v", p, again)
				}
			}
		})

		t.Run("EscapedBackslashIsNotNUL", func(t *testing.T) {
			r := decodeAs[eventResp](t, ts.must(t, 202, "POST", "/api/events", "", `{"integrationKey":"`+ikey+`","eventType":"ALERT","summary":"C:\\u0000 is a path"}`))
			if r.ResponseCode != "NEW_ALERT_CREATED" {
				t.Fatalf("got %+v", r)
			}
		})

		t.Run("NoOpenAlert", func(t *testing.T) {
			r := decodeAs[eventResp](t, ts.must(t, 202, "POST", "/api/events", "", `{"integrationKey":"`+ikey+`","eventType":"ACCEPT","alertKey":"never-seen"}`))
			if r.ResponseCode != "NO_OPEN_ALERT" || r.AlertURL != "" {
				t.Fatalf("got %+v", r)
			}
		})

		bad := []struct {
			name, body string
			status     int
			code, msg  string
		}{
			{"MalformedJSON", `{"integrationKey":`, 400, "INVALID_INPUT", "cut short"},
			{"MissingType", `{"integrationKey":"` + ikey + `","summary":"s"}`, 400, "INVALID_INPUT", "eventType is required"},
			{"AlertWithoutSummary", `{"integrationKey":"` + ikey + `","eventType":"ALERT"}`, 400, "INVALID_INPUT", "summary is required"},
			{"UnknownKey", `{"integrationKey":"nope","eventType":"ALERT","summary":"s"}`, 404, "NOT_FOUND", "integration key"},
			{"NULInText", `{"integrationKey":"` + ikey + `","eventType":"ALERT","summary":"a\u0000b"}`, 400, "INVALID_INPUT", "NUL"},
			{"NULInCustomDetails", `{"integrationKey":"` + ikey + `","eventType":"ALERT","summary":"s","customDetails":{"x":"\u0000"}}`, 400, "INVALID_INPUT", "NUL"},
			{"InvalidUTF8", "{\"integrationKey\":\"" + ikey + "\",\"eventType\":\"ALERT\",\"summary\":\"\xff\xfe\"}", 400, "INVALID_INPUT", "UTF-8"},
			{"TooLarge", `{"integrationKey":"` + ikey + `","eventType":"ALERT","summary":"s","details":"` + strings.Repeat("x", 513<<10) + `"}`, 413, "PAYLOAD_TOO_LARGE", "KiB"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				before := count()
				status, body := ts.do(t, "POST", "/api/events", "", tc.body)
				e := decodeAs[errorResp](t, body)
				if status != tc.status || e.Status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
					t.Fatalf("got %d %+v, want %d %s mentioning %q", status, e, tc.status, tc.code, tc.msg)
				}
				if after := count(); after != before {
					t.Fatalf("a rejected event changed the alert count from %d to %d", before, after)
				}
			})
		}

		t.Run("InactiveSource", func(t *testing.T) {
			f.Source.Active = new(bool)
			if err := ts.DB.UpdateSource(t.Context(), f.Source, nil); err != nil {
				t.Fatal(err)
			}
			// The API caches sources by key for a second; a fresh key avoids depending on that.
			before := count()
			src := *f.Source
			src.ID, src.IntegrationKey = 0, "inactive-key-0123456789"
			if err := ts.DB.CreateSource(t.Context(), &src, nil); err != nil {
				t.Fatal(err)
			}
			r := decodeAs[eventResp](t, ts.must(t, 202, "POST", "/api/events", "", `{"integrationKey":"inactive-key-0123456789","eventType":"ALERT","summary":"s"}`))
			if r.ResponseCode != "ALERT_SOURCE_INACTIVE" || count() != before {
				t.Fatalf("event to an inactive source: %+v", r)
			}
		})
	})
}

func TestEventsRateLimit(t *testing.T) {
	db := storetest.MustOpen(t, storetest.SQLiteDSN(t))
	f := storetest.NewFixture(t, db)
	c := ingest.New(db, nil, ingest.Options{})
	defer c.Close()
	srv := httptest.NewServer(api.New(api.Options{Store: db, Ingest: c, EventRate: 0.001, EventBurst: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	send := func() *http.Response {
		resp, err := http.Post(srv.URL+"/api/events", "application/json",
			strings.NewReader(`{"integrationKey":"`+f.Source.IntegrationKey+`","eventType":"ALERT","summary":"s"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 3 {
		if r := send(); r.StatusCode != 202 {
			t.Fatalf("event %d within the burst: %d", i, r.StatusCode)
		}
	}
	r := send()
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("event over the limit: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if n, _ := db.CountAlerts(t.Context(), storeFilterAll); n != 3 {
		t.Fatalf("%d alerts, want the 3 accepted", n)
	}
}

var storeFilterAll = store.AlertFilter{}

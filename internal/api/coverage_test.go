package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// coverageJSON is a coverage request as the API answers it.
type coverageJSON struct {
	ID       int64 `json:"id"`
	Schedule struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"schedule"`
	Requester  auth.Ref   `json:"requester"`
	User       auth.Ref   `json:"user"`
	Start      time.Time  `json:"start"`
	End        time.Time  `json:"end"`
	Message    string     `json:"message"`
	Status     string     `json:"status"`
	OverrideID int64      `json:"overrideId"`
	CreatedAt  time.Time  `json:"createdAt"`
	DecidedAt  *time.Time `json:"decidedAt"`
}

// coverageAPI is a weekly Berlin schedule of Ann (weeks from 02-26, 03-11, …) and Bob (from
// 03-04, …), all RESPONDERs, with Cat and Dan to ask, at scheduleNow (Monday 03-04 12:00).
type coverageAPI struct {
	*testServer
	now                            time.Time
	ann, bob, cat, dan             auth.Account
	annKey, bobKey, catKey, danKey string
	path                           string // the schedule's
	who                            map[int64]string
}

func newCoverageAPI(t *testing.T, dsn string) *coverageAPI {
	t.Helper()
	c := &coverageAPI{testServer: newTestServer(t, dsn), now: scheduleNow}
	c.DB.Now = func() time.Time { return c.now }
	c.ann, c.annKey = c.user(t, auth.Responder)
	c.bob, c.bobKey = c.user(t, auth.Responder)
	c.cat, c.catKey = c.user(t, auth.Responder)
	c.dan, c.danKey = c.user(t, auth.Responder)
	created := decodeAs[scheduleJSON](t, c.must(t, http.StatusCreated, "POST", "/api/schedules", c.AdminKey, weeklyBody("ops", c.ann.ID, c.bob.ID)))
	c.path = fmt.Sprintf("/api/schedules/%d", created.ID)
	c.who = map[int64]string{c.ann.ID: "ann", c.bob.ID: "bob", c.cat.ID: "cat", c.dan.ID: "dan"}
	return c
}

// ask sends key's request that user cover start–end (Berlin's clock) and expects status.
func (c *coverageAPI) ask(t *testing.T, want int, key string, user auth.Account, start, end string) coverageJSON {
	t.Helper()
	body := fmt.Sprintf(`{"user":{"id":%d},"start":%q,"end":%q,"message":"school play"}`, user.ID, start, end)
	resp := c.must(t, want, "POST", c.path+"/coverage-requests", key, body)
	if want != http.StatusCreated {
		return coverageJSON{}
	}
	return decodeAs[coverageJSON](t, resp)
}

// act sends PUT /api/coverage-requests/{id}/verb as key and expects status.
func (c *coverageAPI) act(t *testing.T, want int, key string, id int64, verb string) []byte {
	t.Helper()
	return c.must(t, want, "PUT", fmt.Sprintf("/api/coverage-requests/%d/%s", id, verb), key, nil)
}

// shifts lists the schedule's shifts on Tuesday 03-05 to Wednesday 03-06 (UTC).
func (c *coverageAPI) shifts(t *testing.T, from, until string) []string {
	t.Helper()
	q := "?from=" + url.QueryEscape(from) + "&until=" + url.QueryEscape(until)
	return shiftNames(decodeAs[[]shiftJSON](t, c.must(t, http.StatusOK, "GET", c.path+"/shifts"+q, c.AdminKey, nil)), c.who)
}

func (c *coverageAPI) list(t *testing.T, path, key string) []int64 {
	t.Helper()
	ids := []int64{}
	for _, r := range decodeAs[[]coverageJSON](t, c.must(t, http.StatusOK, "GET", path, key, nil)) {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestCoverageRequestAccepted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		c := newCoverageAPI(t, dsn)

		// Partly: two hours of Bob's Tuesday.
		partly := c.ask(t, http.StatusCreated, c.bobKey, c.cat, "2024-03-05T12:00", "2024-03-05T14:00")
		if partly.ID == 0 || partly.Status != "PENDING" || partly.Requester.ID != c.bob.ID || partly.Requester.FirstName != c.bob.FirstName ||
			partly.User.ID != c.cat.ID || partly.User.LastName != c.cat.LastName || partly.Schedule.Name != "ops" ||
			!partly.Start.Equal(time.Date(2024, 3, 5, 11, 0, 0, 0, time.UTC)) || !partly.End.Equal(time.Date(2024, 3, 5, 13, 0, 0, 0, time.UTC)) ||
			partly.Message != "school play" || !partly.CreatedAt.Equal(scheduleNow) || partly.DecidedAt != nil || partly.OverrideID != 0 {
			t.Fatalf("created: %+v", partly)
		}
		if got := c.list(t, "/api/users/current/coverage-requests?direction=incoming", c.catKey); !slices.Equal(got, []int64{partly.ID}) {
			t.Errorf("cat's incoming: %v", got)
		}
		if got := c.list(t, "/api/users/current/coverage-requests?direction=outgoing", c.bobKey); !slices.Equal(got, []int64{partly.ID}) {
			t.Errorf("bob's outgoing: %v", got)
		}
		for _, q := range []string{"?direction=incoming", "?direction=outgoing", ""} {
			if got := c.list(t, "/api/users/current/coverage-requests"+q, c.annKey); len(got) != 0 {
				t.Errorf("ann's %q: %v", q, got)
			}
		}

		before := c.shifts(t, "2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z")
		accepted := decodeAs[coverageJSON](t, c.act(t, http.StatusOK, c.catKey, partly.ID, "accept"))
		if accepted.Status != "ACCEPTED" || accepted.OverrideID == 0 || accepted.DecidedAt == nil {
			t.Fatalf("accepted: %+v", accepted)
		}
		if want := []string{"bob 03-04T08:00→03-05T11:00", "cat 03-05T11:00→03-05T13:00", "bob 03-05T13:00→03-11T08:00"}; !slices.Equal(c.shifts(t, "2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z"), want) {
			t.Errorf("shifts after the accept: %v (before: %v), want %v", c.shifts(t, "2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z"), before, want)
		}
		overrides := decodeAs[[]shiftJSON](t, c.must(t, http.StatusOK, "GET", c.path+"/overrides", c.AdminKey, nil))
		if len(overrides) != 1 || overrides[0].ID != accepted.OverrideID {
			t.Errorf("overrides: %+v, want the one with id %d", overrides, accepted.OverrideID)
		}
		c.now = time.Date(2024, 3, 5, 12, 30, 0, 0, time.UTC)
		if on := decodeAs[shiftJSON](t, c.must(t, http.StatusOK, "GET", c.path+"/user-on-call", c.AdminKey, nil)); on.User.ID != c.cat.ID {
			t.Errorf("user-on-call during the cover: %+v", on)
		}
		if got := decodeAs[coverageJSON](t, c.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/coverage-requests/%d", partly.ID), c.danKey, nil)); got.Status != "ACCEPTED" {
			t.Errorf("an accepted request whose start passed reads %s", got.Status)
		}

		// Fully: all of Ann's next week, written with offsets.
		full := c.ask(t, http.StatusCreated, c.annKey, c.dan, "2024-03-11T08:00:00Z", "2024-03-18T08:00:00Z")
		c.act(t, http.StatusOK, c.danKey, full.ID, "accept")
		if want := []string{"bob 03-05T13:00→03-11T08:00", "dan 03-11T08:00→03-18T08:00", "bob 03-18T08:00→03-25T08:00"}; !slices.Equal(c.shifts(t, "2024-03-10T00:00:00Z", "2024-03-19T00:00:00Z"), want) {
			t.Errorf("shifts after a full cover: %v, want %v", c.shifts(t, "2024-03-10T00:00:00Z", "2024-03-19T00:00:00Z"), want)
		}
		c.now = time.Date(2024, 3, 12, 0, 0, 0, 0, time.UTC)
		if on := decodeAs[shiftJSON](t, c.must(t, http.StatusOK, "GET", c.path+"/user-on-call", c.AdminKey, nil)); on.User.ID != c.dan.ID {
			t.Errorf("user-on-call during the full cover: %+v", on)
		}

		if got := c.list(t, c.path+"/coverage-requests", c.AdminKey); !slices.Equal(got, []int64{full.ID, partly.ID}) {
			t.Errorf("the schedule's requests: %v", got)
		}
		if got := c.list(t, c.path+"/coverage-requests?status=accepted&max-results=1", c.AdminKey); !slices.Equal(got, []int64{full.ID}) {
			t.Errorf("the schedule's accepted requests, one page: %v", got)
		}
	})
}

func TestCoverageRequestRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		c := newCoverageAPI(t, dsn)
		tuesday := []string{"bob 03-04T08:00→03-11T08:00"}
		const from, until = "2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z"

		t.Run("Declined", func(t *testing.T) {
			r := c.ask(t, http.StatusCreated, c.bobKey, c.cat, "2024-03-05T12:00", "2024-03-05T14:00")
			got := decodeAs[coverageJSON](t, c.act(t, http.StatusOK, c.catKey, r.ID, "decline"))
			if got.Status != "DECLINED" || got.OverrideID != 0 || got.DecidedAt == nil {
				t.Errorf("declined: %+v", got)
			}
			if got := c.shifts(t, from, until); !slices.Equal(got, tuesday) {
				t.Errorf("shifts after a decline: %v", got)
			}
			body := c.act(t, http.StatusBadRequest, c.catKey, r.ID, "accept")
			if !strings.Contains(string(body), "is DECLINED, not PENDING") {
				t.Errorf("accept after decline: %s", body)
			}
		})

		t.Run("WrongPerson", func(t *testing.T) {
			r := c.ask(t, http.StatusCreated, c.bobKey, c.cat, "2024-03-05T12:00", "2024-03-05T14:00")
			for _, key := range []string{c.danKey, c.bobKey, c.AdminKey} {
				c.act(t, http.StatusForbidden, key, r.ID, "accept")
				c.act(t, http.StatusForbidden, key, r.ID, "decline")
			}
			for _, key := range []string{c.catKey, c.danKey} {
				c.act(t, http.StatusForbidden, key, r.ID, "cancel")
			}
			if got := c.shifts(t, from, until); !slices.Equal(got, tuesday) {
				t.Errorf("shifts after refused accepts: %v", got)
			}
			// An ADMIN may cancel anyone's request.
			if got := decodeAs[coverageJSON](t, c.act(t, http.StatusOK, c.AdminKey, r.ID, "cancel")); got.Status != "CANCELLED" {
				t.Errorf("cancelled by an ADMIN: %+v", got)
			}
		})

		t.Run("AcceptAfterCancel", func(t *testing.T) {
			r := c.ask(t, http.StatusCreated, c.bobKey, c.cat, "2024-03-05T12:00", "2024-03-05T14:00")
			c.act(t, http.StatusOK, c.bobKey, r.ID, "cancel")
			body := c.act(t, http.StatusBadRequest, c.catKey, r.ID, "accept")
			if !strings.Contains(string(body), "is CANCELLED, not PENDING") {
				t.Errorf("accept after cancel: %s", body)
			}
			c.act(t, http.StatusBadRequest, c.bobKey, r.ID, "cancel")
			if got := c.shifts(t, from, until); !slices.Equal(got, tuesday) {
				t.Errorf("shifts after accepting a cancelled request: %v", got)
			}
		})

		t.Run("OutsideTheirShifts", func(t *testing.T) {
			c.ask(t, http.StatusBadRequest, c.annKey, c.cat, "2024-03-05T12:00", "2024-03-05T14:00") // Bob's week
			c.ask(t, http.StatusBadRequest, c.bobKey, c.cat, "2024-03-11T08:00", "2024-03-11T10:00") // runs into Ann's
			c.ask(t, http.StatusBadRequest, c.bobKey, c.cat, "2024-03-04T10:00", "2024-03-04T14:00") // started
			c.ask(t, http.StatusBadRequest, c.bobKey, c.bob, "2024-03-05T12:00", "2024-03-05T14:00") // themselves
			c.ask(t, http.StatusBadRequest, c.bobKey, c.cat, "2024-03-05T14:00", "2024-03-05T12:00")
			c.must(t, http.StatusBadRequest, "POST", c.path+"/coverage-requests", c.bobKey, fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-05T12:00"}`, c.cat.ID))
			c.must(t, http.StatusBadRequest, "POST", c.path+"/coverage-requests", c.bobKey,
				fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-05T12:00","end":"2024-03-05T13:00","message":%q}`, c.cat.ID, strings.Repeat("x", 1001)))
			c.must(t, http.StatusNotFound, "POST", "/api/schedules/999/coverage-requests", c.bobKey,
				fmt.Sprintf(`{"user":{"id":%d},"start":"2024-03-05T12:00","end":"2024-03-05T13:00"}`, c.cat.ID))
		})

		t.Run("Expired", func(t *testing.T) {
			r := c.ask(t, http.StatusCreated, c.bobKey, c.cat, "2024-03-07T12:00", "2024-03-07T14:00")
			c.now = time.Date(2024, 3, 7, 11, 0, 0, 0, time.UTC) // 12:00 in Berlin
			defer func() { c.now = scheduleNow }()
			got := decodeAs[coverageJSON](t, c.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/coverage-requests/%d", r.ID), c.catKey, nil))
			if got.Status != "EXPIRED" {
				t.Errorf("after its start: %+v", got)
			}
			body := c.act(t, http.StatusBadRequest, c.catKey, r.ID, "accept")
			if !strings.Contains(string(body), "expired") {
				t.Errorf("accept after expiry: %s", body)
			}
			if got := c.list(t, "/api/users/current/coverage-requests?direction=incoming&status=EXPIRED", c.catKey); !slices.Equal(got, []int64{r.ID}) {
				t.Errorf("cat's expired: %v", got)
			}
		})

		c.must(t, http.StatusNotFound, "GET", "/api/coverage-requests/999", c.AdminKey, nil)
		c.must(t, http.StatusNotFound, "PUT", "/api/coverage-requests/999/accept", c.catKey, nil)
		c.must(t, http.StatusNotFound, "GET", "/api/schedules/999/coverage-requests", c.AdminKey, nil)
		c.must(t, http.StatusBadRequest, "GET", "/api/users/current/coverage-requests?direction=sideways", c.catKey, nil)
		c.must(t, http.StatusBadRequest, "GET", c.path+"/coverage-requests?status=MAYBE", c.catKey, nil)
	})
}

func TestCoverageRequestRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		c := newCoverageAPI(t, dsn)
		stakeholder, stakeholderKey := c.user(t, auth.Stakeholder)
		_, guestKey := c.user(t, auth.Guest)
		r := c.ask(t, http.StatusCreated, c.bobKey, c.cat, "2024-03-05T12:00", "2024-03-05T14:00")
		item := fmt.Sprintf("/api/coverage-requests/%d", r.ID)

		c.ask(t, http.StatusForbidden, stakeholderKey, c.cat, "2024-03-05T15:00", "2024-03-05T16:00")
		c.ask(t, http.StatusBadRequest, c.bobKey, stakeholder, "2024-03-05T15:00", "2024-03-05T16:00") // cannot respond, so cannot cover
		c.ask(t, http.StatusUnauthorized, "", c.cat, "2024-03-05T15:00", "2024-03-05T16:00")
		for _, path := range []string{c.path + "/coverage-requests", item, "/api/users/current/coverage-requests"} {
			c.must(t, http.StatusOK, "GET", path, stakeholderKey, nil)
			c.must(t, http.StatusForbidden, "GET", path, guestKey, nil)
			c.must(t, http.StatusUnauthorized, "GET", path, "", nil)
		}
		for _, verb := range []string{"accept", "decline", "cancel"} {
			c.act(t, http.StatusForbidden, stakeholderKey, r.ID, verb)
			c.act(t, http.StatusUnauthorized, "", r.ID, verb)
		}
		if got := decodeAs[coverageJSON](t, c.must(t, http.StatusOK, "GET", item, c.AdminKey, nil)); got.Status != "PENDING" {
			t.Errorf("after refused answers: %+v", got)
		}

		// The route for a schedule's requests does not hide the schedule named "coverage-requests".
		named := decodeAs[scheduleJSON](t, c.must(t, http.StatusCreated, "POST", "/api/schedules", c.AdminKey, weeklyBody("coverage-requests", c.ann.ID)))
		if got := decodeAs[scheduleJSON](t, c.must(t, http.StatusOK, "GET", "/api/schedules/name/coverage-requests", stakeholderKey, nil)); got.ID != named.ID {
			t.Errorf("by name: %+v", got)
		}
	})
}

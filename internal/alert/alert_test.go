package alert_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
)

var logEntryTypes = []string{alert.LogReceived, alert.LogSourceResponse, alert.LogCreatedByUser, alert.LogUserResponse,
	alert.LogAssignedByUser, alert.LogCommentByUser, alert.LogCommentBySystem, alert.LogRouted, alert.LogNotRouted,
	alert.LogResponderRemoved, "AlertAssignedToPolicyLogEntry", "SomeFutureLogEntry"}

var logFilterTypes = []string{alert.FilterNotifications, alert.FilterSourceEvents, alert.FilterCallRouting,
	alert.FilterUpdates, alert.FilterConnectorEvents, alert.FilterIncidentCommunications}

func TestFilterTypes(t *testing.T) {
	sources, both, updates := "[ALERT_SOURCE_EVENTS]", "[ALERT_SOURCE_EVENTS ALERT_UPDATES]", "[ALERT_UPDATES]"
	want := map[string]string{
		alert.LogReceived: sources, alert.LogSourceResponse: sources, alert.LogCommentBySystem: sources,
		alert.LogRouted: both, alert.LogNotRouted: both,
	}
	for _, typ := range logEntryTypes {
		w, ok := want[typ]
		if !ok {
			w = updates
		}
		if got := fmt.Sprint(alert.FilterTypes(typ)); got != w {
			t.Errorf("FilterTypes(%s) = %s, want %s", typ, got, w)
		}
	}
}

// LogFilterFor selects, for every set of filter types, exactly the entries whose FilterTypes
// share one of them, and every entry for no filter types.
func TestLogFilterFor(t *testing.T) {
	for mask := range 1 << len(logFilterTypes) {
		var set []string
		for i, ft := range logFilterTypes {
			if mask&(1<<i) != 0 {
				set = append(set, ft)
			}
		}
		f := alert.LogFilterFor(set)
		for _, typ := range logEntryTypes {
			want := len(set) == 0 || slices.ContainsFunc(alert.FilterTypes(typ), func(ft string) bool { return slices.Contains(set, ft) })
			if got := slices.Contains(f.Types, typ) != f.Except; got != want {
				t.Errorf("%v selects %s: %v, want %v (filter %+v)", set, typ, got, want, f)
			}
		}
	}
	t.Run("UpdatesExcludeSourceOnlyTypes", func(t *testing.T) {
		f := alert.LogFilterFor([]string{alert.FilterUpdates})
		want := []string{alert.LogReceived, alert.LogSourceResponse, alert.LogCommentBySystem}
		if !f.Except || !slices.Equal(f.Types, want) {
			t.Fatalf("got %+v, want NOT IN %v", f, want)
		}
	})
	t.Run("UnwrittenCategoriesSelectNothing", func(t *testing.T) {
		f := alert.LogFilterFor([]string{alert.FilterNotifications, alert.FilterCallRouting})
		if f.Except || len(f.Types) != 0 {
			t.Fatalf("got %+v, want nothing selected", f)
		}
	})
}

func TestIsLogFilterType(t *testing.T) {
	for _, ft := range logFilterTypes {
		if !alert.IsLogFilterType(ft) {
			t.Errorf("%s: not a log filter type", ft)
		}
	}
	for _, ft := range []string{"", "alert_updates", "ALERTS"} {
		if alert.IsLogFilterType(ft) {
			t.Errorf("%q: a log filter type", ft)
		}
	}
}

func TestValidateAttachments(t *testing.T) {
	long := strings.Repeat("x", alert.MaxTextLen+1)
	max := strings.Repeat("x", alert.MaxTextLen)
	t.Run("Valid", func(t *testing.T) {
		images := []alert.Image{{Src: "s"}, {Src: max, Href: max, Alt: max}}
		links := []alert.Link{{Href: "h"}, {Href: max, Text: max}}
		if err := alert.ValidateAttachments(images, links); err != nil {
			t.Fatal(err)
		}
		if err := alert.ValidateAttachments(nil, nil); err != nil {
			t.Fatal(err)
		}
	})
	bad := []struct {
		name   string
		images []alert.Image
		links  []alert.Link
		want   string
	}{
		{"ErrImageWithoutSrc", []alert.Image{{Src: "s"}, {Href: "h"}}, nil, "images[1]"},
		{"ErrLongSrc", []alert.Image{{Src: long}}, nil, "images[0]"},
		{"ErrLongAlt", []alert.Image{{Src: "s", Alt: long}}, nil, "images[0]"},
		{"ErrLinkWithoutHref", nil, []alert.Link{{Text: "t"}}, "links[0]"},
		{"ErrLongLinkText", nil, []alert.Link{{Href: "h", Text: long}}, "links[0]"},
		{"ErrTooManyImages", make([]alert.Image, alert.MaxItems+1), nil, "at most"},
		{"ErrTooManyLinks", nil, make([]alert.Link, alert.MaxItems+1), "at most"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := alert.ValidateAttachments(tc.images, tc.links)
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an Invalid error mentioning %q", err, tc.want)
			}
		})
	}
}

// ilert-go copies a legacy incidentCreation into alertCreation verbatim, so the *_INCIDENT_*
// names arrive in either field.
func TestNormalizeLegacyCreationModes(t *testing.T) {
	for _, tc := range []struct{ alertCreation, incidentCreation, want string }{
		{"ONE_INCIDENT_PER_EMAIL", "", alert.OneAlertPerEmail},
		{"one_pending_incident_allowed", "", alert.OnePendingAlertAllowed},
		{"", "ONE_OPEN_INCIDENT_ALLOWED", alert.OneOpenAlertAllowed},
		{"ONE_ALERT_GROUPED_PER_WINDOW", "ONE_INCIDENT_PER_EMAIL", alert.OneAlertGroupedPerWindow},
		{"", "", alert.OneAlertPerEmail},
	} {
		s := alert.Source{AlertCreation: tc.alertCreation, IncidentCreation: tc.incidentCreation}
		s.Normalize()
		if s.AlertCreation != tc.want || s.IncidentCreation != "" {
			t.Errorf("alertCreation %q, incidentCreation %q: got %q (incidentCreation %q), want %q",
				tc.alertCreation, tc.incidentCreation, s.AlertCreation, s.IncidentCreation, tc.want)
		}
	}
}

// ilert's deprecated HEARTBEAT source is refused when created, pointing to heartbeat monitors:
// a source that looked like monitoring and never alerted would be worse than an error.
func TestHeartbeatSourceRefused(t *testing.T) {
	if err := alert.CheckNewType(" heartbeat "); err == nil || !strings.Contains(err.Error(), "/api/heartbeat-monitors") {
		t.Fatalf("HEARTBEAT source: %v, want a refusal naming heartbeat monitors", err)
	}
	for _, ok := range []string{"HEARTBEAT2", "API", ""} {
		if err := alert.CheckNewType(ok); err != nil {
			t.Errorf("%s source: %v", ok, err)
		}
	}
}

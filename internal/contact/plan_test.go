package contact_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/contact"
)

func TestSelection(t *testing.T) {
	contacts := map[int64]contact.Contact{
		1: {ID: 1, Kind: contact.KindEmail, Target: "Ada@Work.example", Address: "Ada@Work.example", Status: contact.OK},
		2: {ID: 2, Kind: contact.KindPhone, Target: "030 1234567", Address: "+49301234567", Status: contact.OK},
		3: {ID: 3, Kind: contact.KindWebhook, Target: "https://hooks.example/x", Address: "https://hooks.example/x", Secret: "whsec_s", Status: contact.OK},
		4: {ID: 4, Kind: contact.KindPhone, Target: "+15550100000", Address: "+15550100000", Status: contact.Blacklisted},
	}
	alertRule := func(id int64, m contact.Method, c int64, typ contact.RuleType, delay int) contact.Rule {
		return contact.Rule{ID: id, Kind: contact.Alerts, Method: m, ContactID: c, Type: typ, Minutes: delay}
	}
	// High priority: voice after 5, SMS after 1, email at once, webhook at once (declared
	// later than the email, so after it), a blacklisted number never.
	rules := []contact.Rule{
		alertRule(10, contact.Voice, 2, contact.HighPriority, 5),
		alertRule(11, contact.SMS, 2, contact.HighPriority, 1),
		alertRule(12, contact.Email, 1, contact.HighPriority, 0),
		alertRule(13, contact.Webhook, 3, contact.HighPriority, 0),
		alertRule(14, contact.SMS, 4, contact.HighPriority, 0),
		alertRule(15, contact.Email, 1, contact.LowPriority, 30),
		alertRule(16, contact.Push, 0, contact.LowPriority, 0),
		{ID: 20, Kind: contact.Duties, Method: contact.Email, ContactID: 1, Type: contact.OnCall, Minutes: 15},
		{ID: 21, Kind: contact.Duties, Method: contact.SMS, ContactID: 2, Type: contact.OnCall, Minutes: 1440},
		{ID: 30, Kind: contact.Updates, Method: contact.Email, ContactID: 1, Type: contact.AlertAccepted},
		{ID: 31, Kind: contact.Updates, Method: contact.Webhook, ContactID: 3, Type: contact.AlertResolved},
		{ID: 32, Kind: contact.Updates, Method: contact.SMS, ContactID: 99, Type: contact.AlertResolved}, // contact gone
	}
	ada := contact.UserRules{UserID: 7, Email: "ada@example.com", Rules: rules, Contacts: contacts}
	// Only duty and update rules: alerts still get the default email.
	noAlertRules := contact.UserRules{UserID: 8, Email: "bob@example.com", Rules: rules[7:], Contacts: contacts}
	onlyLow := contact.UserRules{UserID: 9, Email: "cy@example.com", Rules: rules[5:7], Contacts: contacts}
	none := contact.UserRules{UserID: 10, Email: "dee@example.com"}

	defaultFor := func(email string) []contact.Delivery {
		return []contact.Delivery{{Method: contact.Email, Target: email}}
	}
	for _, tc := range []struct {
		name string
		got  []contact.Delivery
		want []contact.Delivery
	}{
		{"HighInDueOrder", ada.ForAlert(alert.High), []contact.Delivery{
			{RuleID: 12, Method: contact.Email, ContactID: 1, Target: "Ada@Work.example"},
			{RuleID: 13, Method: contact.Webhook, ContactID: 3, Target: "https://hooks.example/x", Secret: "whsec_s"},
			{RuleID: 11, Method: contact.SMS, ContactID: 2, Target: "+49301234567", Delay: time.Minute},
			{RuleID: 10, Method: contact.Voice, ContactID: 2, Target: "+49301234567", Delay: 5 * time.Minute},
		}},
		{"LowIncludesUndeliverableMethods", ada.ForAlert(alert.Low), []contact.Delivery{
			{RuleID: 16, Method: contact.Push},
			{RuleID: 15, Method: contact.Email, ContactID: 1, Target: "Ada@Work.example", Delay: 30 * time.Minute},
		}},
		{"DefaultWithoutAlertRulesHigh", noAlertRules.ForAlert(alert.High), defaultFor("bob@example.com")},
		{"DefaultWithoutAlertRulesLow", noAlertRules.ForAlert(alert.Low), defaultFor("bob@example.com")},
		{"DefaultWithoutAnyRules", none.ForAlert(alert.High), defaultFor("dee@example.com")},
		{"NoDefaultWhenOnlyOtherPriority", onlyLow.ForAlert(alert.High), []contact.Delivery{}},
		{"DutyEarliestFirst", ada.ForDuty(), []contact.Delivery{
			{RuleID: 21, Method: contact.SMS, ContactID: 2, Target: "+49301234567", Delay: -24 * time.Hour},
			{RuleID: 20, Method: contact.Email, ContactID: 1, Target: "Ada@Work.example", Delay: -15 * time.Minute},
		}},
		{"NoDutyDefault", none.ForDuty(), []contact.Delivery{}},
		{"UpdateAccepted", ada.ForUpdate(contact.AlertAccepted), []contact.Delivery{
			{RuleID: 30, Method: contact.Email, ContactID: 1, Target: "Ada@Work.example"},
		}},
		{"UpdateResolvedSkipsMissingContact", ada.ForUpdate(contact.AlertResolved), []contact.Delivery{
			{RuleID: 31, Method: contact.Webhook, ContactID: 3, Target: "https://hooks.example/x", Secret: "whsec_s"},
		}},
		{"NoUpdateDefault", none.ForUpdate(contact.AlertEscalated), []contact.Delivery{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Equal(tc.got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", tc.got, tc.want)
			}
		})
	}
}

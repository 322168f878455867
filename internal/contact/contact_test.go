package contact_test

import (
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/fault"
)

func TestPhoneE164(t *testing.T) {
	for _, tc := range []struct {
		number, region, want string
	}{
		{"+49 30 1234567", "", "+49301234567"},
		{"+1 (415) 555-0100", "US", "+14155550100"},
		{"0049 30 1234567", "", "+49301234567"},
		{"030 1234567", "DE", "+49301234567"},
		{"030/1234567", "DE", "+49301234567"},
		{"(415) 555-0100", "US", "+14155550100"},
		{"1 415 555 0100", "US", "+14155550100"},
		{"020 7946 0018", "GB", "+442079460018"},
		{"06 1234 5678", "IT", "+390612345678"}, // Italy keeps its 0
		{"612 345 678", "ES", "+34612345678"},
		{"+44 20 7946 0018", "DE", "+442079460018"}, // international wins over the region
	} {
		got, err := contact.PhoneE164(tc.number, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("PhoneE164(%q, %q) = %q, %v; want %q", tc.number, tc.region, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ number, region string }{
		{"", ""},
		{"+", ""},
		{"030 1234567", ""},       // national without a region
		{"030 1234567", "XX"},     // national in a region tocsin cannot read
		{"+49 30 12x4567", ""},    // letters
		{"+1234567", ""},          // 7 digits
		{"+1234567890123456", ""}, // 16 digits
		{"+0301234567", ""},       // country code cannot start with 0
		{"+49+301234567", ""},
		{"tel:+49301234567", ""},
	} {
		if got, err := contact.PhoneE164(tc.number, tc.region); err == nil || !fault.Is(err, fault.Invalid) {
			t.Errorf("PhoneE164(%q, %q) = %q, %v; want an Invalid error", tc.number, tc.region, got, err)
		}
	}
}

func TestValidateWebhookURL(t *testing.T) {
	public := []string{
		"https://hooks.example.com/tocsin",
		"http://hooks.example.com:8080/a?b=c",
		"https://93.184.215.14/hook",
		"https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook",
		"https://example.com./trailing-dot",
	}
	private := []string{
		"http://127.0.0.1:9000/hook",
		"http://127.1.2.3/",
		"http://[::1]:8080/",
		"http://10.0.0.1/",
		"http://172.16.5.4/",
		"http://192.168.1.1/",
		"http://100.64.0.1/",
		"http://[fd00::1]/",
		"http://[::ffff:127.0.0.1]/",
		"http://[64:ff9b::7f00:1]/", // NAT64 of 127.0.0.1
		"http://localhost:8080/",
		"http://api.localhost/",
	}
	never := []string{
		"ftp://example.com/file",
		"file:///etc/passwd",
		"gopher://example.com/",
		"javascript:alert(1)",
		"mailto:ops@example.com",
		"https://user:pass@example.com/",
		"https://token@example.com/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1]/",
		"http://[64:ff9b::a9fe:a9fe]/", // NAT64 of 169.254.169.254
		"http://[2002:a9fe:a9fe::1]/",  // 6to4 of 169.254.169.254
		"http://0.0.0.0/",
		"http://[::]/",
		"http://224.0.0.1/",
		"http://2130706433/", // 127.0.0.1 as one number
		"http://0x7f.0.0.1/", // hexadecimal
		"http://0177.0.0.1/", // octal
		"http://127.1/",      // short form
		"https://example.com:99999/",
		"https://example.com:0/",
		"/relative/path",
		"https:///no-host",
		"not a url",
	}
	for _, u := range public {
		for _, allow := range []bool{false, true} {
			if err := contact.ValidateWebhookURL(u, allow); err != nil {
				t.Errorf("ValidateWebhookURL(%q, %v) = %v, want nil", u, allow, err)
			}
		}
	}
	for _, u := range private {
		if err := contact.ValidateWebhookURL(u, false); !fault.Is(err, fault.Invalid) {
			t.Errorf("ValidateWebhookURL(%q, false) = %v, want Invalid", u, err)
		}
		if err := contact.ValidateWebhookURL(u, true); err != nil {
			t.Errorf("ValidateWebhookURL(%q, true) = %v, want nil", u, err)
		}
	}
	for _, u := range never {
		for _, allow := range []bool{false, true} {
			if err := contact.ValidateWebhookURL(u, allow); !fault.Is(err, fault.Invalid) {
				t.Errorf("ValidateWebhookURL(%q, %v) = %v, want Invalid", u, allow, err)
			}
		}
	}
	if err := contact.ValidateWebhookURL("https://u:hunter2@example.com/", false); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error must not repeat the password: %v", err)
	}
}

func TestContactNormalize(t *testing.T) {
	t.Run("Email", func(t *testing.T) {
		c := contact.Contact{Kind: contact.KindEmail, Target: "  Ops@Example.com ", RegionCode: "DE", Primary: true}
		if err := c.Normalize(); err != nil {
			t.Fatal(err)
		}
		want := contact.Contact{Kind: contact.KindEmail, Target: "Ops@Example.com", Address: "Ops@Example.com", Status: contact.OK}
		if c != want {
			t.Fatalf("got %+v, want %+v", c, want)
		}
		if got := contact.MatchKey(c.Kind, c.Address); got != "ops@example.com" {
			t.Errorf("MatchKey = %q, want the address lower-cased", got)
		}
	})
	t.Run("PhoneKeepsTargetAndReadsAddress", func(t *testing.T) {
		c := contact.Contact{Kind: contact.KindPhone, Target: "030 1234567", RegionCode: "de"}
		if err := c.Normalize(); err != nil {
			t.Fatal(err)
		}
		if c.Target != "030 1234567" || c.Address != "+49301234567" || c.RegionCode != "DE" {
			t.Fatalf("got %+v", c)
		}
	})
	for name, c := range map[string]contact.Contact{
		"ErrEmailRequired":   {Kind: contact.KindEmail, Target: " "},
		"ErrEmailInvalid":    {Kind: contact.KindEmail, Target: "not-an-address"},
		"ErrEmailWithName":   {Kind: contact.KindEmail, Target: "Ops <ops@example.com>"},
		"ErrPhoneInvalid":    {Kind: contact.KindPhone, Target: "12345"},
		"ErrRegionInvalid":   {Kind: contact.KindPhone, Target: "+49301234567", RegionCode: "GER"},
		"ErrWebhookScheme":   {Kind: contact.KindWebhook, Target: "ftp://example.com/"},
		"ErrTargetTooLong":   {Kind: contact.KindWebhook, Target: "https://example.com/" + strings.Repeat("a", 2048)},
		"ErrKindUnknown":     {Kind: "PIGEON", Target: "roof"},
		"ErrWebhookUserinfo": {Kind: contact.KindWebhook, Target: "https://a:b@example.com/"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.Normalize(); !fault.Is(err, fault.Invalid) {
				t.Fatalf("Normalize(%+v) = %v, want Invalid", c, err)
			}
		})
	}
	t.Run("SearchKey", func(t *testing.T) {
		if k, ok := contact.SearchKey(contact.KindPhone, "+49 30 1234567", ""); !ok || k != "+49301234567" {
			t.Errorf("SearchKey(phone) = %q, %v", k, ok)
		}
		if k, ok := contact.SearchKey(contact.KindEmail, "OPS@example.com", ""); !ok || k != "ops@example.com" {
			t.Errorf("SearchKey(email) = %q, %v", k, ok)
		}
		if _, ok := contact.SearchKey(contact.KindEmail, "nope", ""); ok {
			t.Error("SearchKey accepted an invalid address")
		}
	})
	if a, b := contact.NewWebhookSecret(), contact.NewWebhookSecret(); a == b || len(a) < len("whsec_")+43 {
		t.Errorf("webhook secrets %q and %q: want two different keys of 256 bits", a, b)
	}
}

func TestRuleValidate(t *testing.T) {
	valid := map[string]contact.Rule{
		"AlertEmail":      {Kind: contact.Alerts, Method: "email", ContactID: 1, Type: "high_priority", Minutes: 0},
		"AlertVoiceDay":   {Kind: contact.Alerts, Method: contact.Voice, ContactID: 1, Type: contact.LowPriority, Minutes: 1440},
		"AlertPush":       {Kind: contact.Alerts, Method: contact.Push, Type: contact.HighPriority},
		"AlertTelegram":   {Kind: contact.Alerts, Method: contact.Telegram, Type: contact.HighPriority},
		"DutyDefaultType": {Kind: contact.Duties, Method: contact.SMS, ContactID: 1, Minutes: 60},
		"UpdateWebhook":   {Kind: contact.Updates, Method: contact.Webhook, ContactID: 1, Type: contact.AlertResolved},
	}
	for name, r := range valid {
		t.Run(name, func(t *testing.T) {
			r.Normalize()
			if err := r.Validate(); err != nil {
				t.Fatalf("Validate(%+v) = %v", r, err)
			}
		})
	}
	invalid := map[string]contact.Rule{
		"ErrMethodUnknown":    {Kind: contact.Alerts, Method: "FAX", ContactID: 1, Type: contact.HighPriority},
		"ErrTypeUnknown":      {Kind: contact.Alerts, Method: contact.Email, ContactID: 1, Type: "URGENT"},
		"ErrTypeOfOtherKind":  {Kind: contact.Alerts, Method: contact.Email, ContactID: 1, Type: contact.OnCall},
		"ErrDelayNegative":    {Kind: contact.Alerts, Method: contact.Email, ContactID: 1, Type: contact.HighPriority, Minutes: -1},
		"ErrDelayTooLong":     {Kind: contact.Alerts, Method: contact.Email, ContactID: 1, Type: contact.HighPriority, Minutes: 1441},
		"ErrBeforeMinOff":     {Kind: contact.Duties, Method: contact.Email, ContactID: 1, Minutes: 20},
		"ErrVoiceForDuty":     {Kind: contact.Duties, Method: contact.Voice, ContactID: 1},
		"ErrVoiceForUpdate":   {Kind: contact.Updates, Method: contact.Voice, ContactID: 1, Type: contact.AlertAccepted},
		"ErrContactMissing":   {Kind: contact.Alerts, Method: contact.SMS, Type: contact.HighPriority},
		"ErrPushWithContact":  {Kind: contact.Alerts, Method: contact.Push, ContactID: 1, Type: contact.HighPriority},
		"ErrKindUnknown":      {Kind: "SOMETIMES", Method: contact.Email, ContactID: 1},
		"ErrUpdateTypeNeeded": {Kind: contact.Updates, Method: contact.Email, ContactID: 1},
	}
	for name, r := range invalid {
		t.Run(name, func(t *testing.T) {
			r.Normalize()
			if err := r.Validate(); !fault.Is(err, fault.Invalid) {
				t.Fatalf("Validate(%+v) = %v, want Invalid", r, err)
			}
		})
	}
}

func TestRuleCheckContact(t *testing.T) {
	email := contact.Contact{ID: 1, UserID: 7, Kind: contact.KindEmail}
	phone := contact.Contact{ID: 2, UserID: 7, Kind: contact.KindPhone}
	hook := contact.Contact{ID: 3, UserID: 7, Kind: contact.KindWebhook}
	for _, tc := range []struct {
		method contact.Method
		c      contact.Contact
		ok     bool
	}{
		{contact.Email, email, true}, {contact.Email, phone, false}, {contact.Email, hook, false},
		{contact.SMS, phone, true}, {contact.SMS, email, false},
		{contact.Voice, phone, true}, {contact.Voice, hook, false},
		{contact.WhatsApp, phone, true}, {contact.WhatsApp, email, false},
		{contact.Webhook, hook, true}, {contact.Webhook, email, false},
		{contact.Telegram, email, true},
		{contact.Email, contact.Contact{ID: 9, UserID: 8, Kind: contact.KindEmail}, false}, // another user's
	} {
		r := contact.Rule{UserID: 7, Kind: contact.Alerts, Method: tc.method, ContactID: tc.c.ID}
		err := r.CheckContact(tc.c)
		if (err == nil) != tc.ok || (err != nil && !fault.Is(err, fault.Invalid)) {
			t.Errorf("%s with %s contact of user %d: %v, want ok=%v", tc.method, tc.c.Kind, tc.c.UserID, err, tc.ok)
		}
	}
}

package condition_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/condition"
)

// benchEvent is an event as the Events API decodes it, with a typical customDetails payload.
func benchEvent(b *testing.B) map[string]any {
	var ev map[string]any
	err := json.Unmarshal([]byte(`{
		"eventType": "ALERT", "summary": "Disk usage above 90% on db-17.eu-west", "alertKey": "db-17/disk",
		"priority": "HIGH", "details": "df reports 93% used on /var/lib/postgresql",
		"customDetails": {"env": "prod", "region": "eu-west-1", "host": "db-17", "value": 93.4,
			"tags": ["db", "postgres", "tier-1"], "runbook": "https://wiki.example.com/disk"}
	}`), &ev)
	if err != nil {
		b.Fatal(err)
	}
	return ev
}

func BenchmarkEval(b *testing.B) {
	env := condition.Env{Data: map[string]any{"event": benchEvent(b)}, Now: time.Date(2024, 5, 15, 16, 0, 0, 0, time.UTC)}
	for _, bc := range []struct{ name, text string }{
		{"Typical", `event.customDetails.env == 'prod' and event.summary contains 'disk'`},
		{"Mixed", `event.summary not contains 'dev stage' and (event.customDetails.region starts_with_any ['eu-', 'us-']
			or event.customDetails.value >= 95) and 'postgres' in event.customDetails.tags`},
		{"Regex", `event.summary regex '^disk usage above (9\d|100)%'`},
	} {
		c, err := condition.Parse(bc.text)
		if err != nil {
			b.Fatal(err)
		}
		if !c.Eval(env) {
			b.Fatalf("%s does not match the benchmark event", bc.text)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Eval(env)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	text := `event.summary not contains 'dev stage' and (event.customDetails.location in ["DE", "CH", "AT"]
		or resetting_trigger_count.10m >= 100) and event.summary regex '^disk (full|usage)'`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := condition.Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

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

// BenchmarkEvalTypical is a realistic eventFilter over a realistic event: an Alertmanager
// notification as the Events API decodes it, about 2 KB, and a filter of the kind users write
// (a severity and environment whitelist, noise words, a regex on the details).
func BenchmarkEvalTypical(b *testing.B) {
	var ev map[string]any
	err := json.Unmarshal([]byte(`{
		"eventType": "ALERT", "priority": "HIGH", "alertKey": "a1b2c3d4e5f60718/HostDiskFull/db-17.eu-west",
		"summary": "[FIRING:1] HostDiskFull db-17.eu-west (/var/lib/postgresql ext4 critical)",
		"details": "Disk is almost full (< 10% left)\n  VALUE = 6.2\n  LABELS = map[device:/dev/nvme1n1 fstype:ext4 instance:db-17.eu-west:9100 job:node mountpoint:/var/lib/postgresql]\nSource: https://prometheus.example.com/graph?g0.expr=node_filesystem_avail_bytes",
		"routingKey": "", "links": [{"href": "https://grafana.example.com/d/disk?var-host=db-17", "text": "Dashboard"}],
		"customDetails": {
			"receiver": "tocsin", "status": "firing", "externalURL": "https://alertmanager.example.com",
			"groupKey": "{}/{severity=~\"critical|warning\"}:{alertname=\"HostDiskFull\"}",
			"labels": {"alertname": "HostDiskFull", "severity": "critical", "env": "prod", "team": "db-platform",
				"instance": "db-17.eu-west:9100", "job": "node", "device": "/dev/nvme1n1", "fstype": "ext4",
				"mountpoint": "/var/lib/postgresql", "region": "eu-west-1", "cluster": "pg-main"},
			"annotations": {"summary": "Host out of disk space (instance db-17.eu-west:9100)",
				"description": "Disk is almost full (< 10% left)\n  VALUE = 6.2\n  LABELS = map[device:/dev/nvme1n1 fstype:ext4]",
				"runbook_url": "https://wiki.example.com/runbooks/host-disk-full"},
			"startsAt": "2024-05-15T15:18:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "https://prometheus.example.com/graph?g0.expr=%28node_filesystem_avail_bytes%29&g0.tab=1",
			"fingerprint": "a1b2c3d4e5f60718", "value": 6.2,
			"tags": ["db", "postgres", "tier-1", "eu-west"]
		}
	}`), &ev)
	if err != nil {
		b.Fatal(err)
	}
	env := condition.Env{Data: map[string]any{"event": ev}, Now: time.Date(2024, 5, 15, 16, 0, 0, 0, time.UTC),
		Count: func(condition.Counter) int { return 3 }}
	c, err := condition.Parse(`event.customDetails.labels.severity in ['critical', 'warning']
		and event.customDetails.labels.env == 'prod'
		and not (event.summary contains_any ['test', 'staging', 'canary', 'dev-'])
		and event.details not_regex 'maintenance|silenced|(?:planned|scheduled) (?:work|downtime)'
		and (event.customDetails.labels.team starts_with 'db-' or 'postgres' in event.customDetails.tags)
		and event.customDetails.startsAt < now
		and trigger_count.10m < 100`)
	if err != nil {
		b.Fatal(err)
	}
	if !c.Eval(env) {
		b.Fatal("the filter does not match the event")
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Eval(env)
	}
}

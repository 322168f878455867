package template_test

import "testing"

// BenchmarkRender renders a typical alert summary and details from a Prometheus-like event.
func BenchmarkRender(b *testing.B) {
	tmpl := mustParse(b, `[{{ labels.severity.upperCase() }}] {{ labels.alertname }} on {{ labels.instance.splitTakeAt(":", 0) }}
{{#alerts}}
- {{ labels.job }}: {{ annotations.summary }} (since {{ startsAt }})
{{/alerts}}
{{^alerts}}no alerts{{/alerts}}
Started {{ startsAtMs.formatUnixMs("S") }}; hosts: {{ hosts.join() }}`)
	data := decode(b, `{
		"labels": {"severity": "critical", "alertname": "DiskFull", "instance": "db-1.example.com:9100"},
		"alerts": [
			{"labels": {"job": "node"}, "annotations": {"summary": "Disk /var is 97% full"}, "startsAt": "2024-05-15T15:18:00Z"},
			{"labels": {"job": "node"}, "annotations": {"summary": "Disk /data is 99% full"}, "startsAt": "2024-05-15T15:19:00Z"}
		],
		"startsAtMs": 1715786280000,
		"hosts": ["db-1", "db-2", "db-3"]
	}`)
	want := tmpl.Render(data)
	b.ReportAllocs()
	for b.Loop() {
		if got := tmpl.Render(data); got != want {
			b.Fatalf("got %q", got)
		}
	}
}

// BenchmarkRenderTypical renders a realistic summary and details template, as an alert source
// would save them, over a realistic Alertmanager-like event with custom details, so the cost of
// ordinary templates can be compared across changes.
func BenchmarkRenderTypical(b *testing.B) {
	summary := mustParse(b, `[{{ labels.severity.upperCase() }}] {{ commonLabels.alertname }} on {{ labels.instance.splitTakeAt(":", 0) }} ({{ labels.env.equalsElse("prod", "non-prod") }})`)
	details := mustParse(b, `{{ annotations.description }}

Status: {{ status.upperCase() }} since {{ startsAt.formatDateString("L") }}
Cluster: {{ labels.cluster }} / namespace {{ labels.namespace }}
{{#customDetails.runbook}}Runbook: {{ customDetails.runbook }}{{/customDetails.runbook}}
{{^customDetails.runbook}}No runbook yet.{{/customDetails.runbook}}

Alerts:
{{#alerts}}
- {{ labels.alertname }} on {{ labels.instance }}: {{ annotations.summary }} (value {{ value }}, since {{ startsAt }})
{{/alerts}}

Affected hosts: {{ customDetails.hosts.join(", ") }}
Owners: {{ customDetails.owners.joinFromObjectArr("name", ", ") }}
Error code: {{ customDetails.log.extractRegex("E\d+") }}
Request: {{ customDetails.log.extractRegexGroups("req=([a-f0-9]+)") }}
Generated {{ customDetails.generatedMs.formatUnixMs("S") }} by {{ customDetails.source.replaceAll("-", " ") }}`)
	data := decode(b, `{
		"status": "firing",
		"startsAt": "2024-05-15T15:18:00.123Z",
		"labels": {"severity": "critical", "instance": "db-1.example.com:9100", "env": "prod", "cluster": "eu-west-1", "namespace": "payments"},
		"commonLabels": {"alertname": "DiskFull"},
		"annotations": {"description": "The disk /var on db-1 has been more than 95% full for 10 minutes.", "summary": "Disk almost full"},
		"alerts": [
			{"labels": {"alertname": "DiskFull", "instance": "db-1.example.com:9100"}, "annotations": {"summary": "Disk /var is 97% full"}, "value": 97.2, "startsAt": "2024-05-15T15:18:00Z"},
			{"labels": {"alertname": "DiskFull", "instance": "db-2.example.com:9100"}, "annotations": {"summary": "Disk /data is 99% full"}, "value": 99.1, "startsAt": "2024-05-15T15:19:00Z"},
			{"labels": {"alertname": "DiskFull", "instance": "db-3.example.com:9100"}, "annotations": {"summary": "Disk /var is 96% full"}, "value": 96, "startsAt": "2024-05-15T15:20:00Z"}
		],
		"customDetails": {
			"runbook": "https://wiki.example.com/runbooks/disk-full",
			"hosts": ["db-1", "db-2", "db-3"],
			"owners": [{"name": "Platform", "slack": "#platform"}, {"name": "DBA", "slack": "#dba"}],
			"log": "2024-05-15T15:17:59Z error E4711 writing block req=9f3a0c1d host=db-1 path=/var/lib/pg",
			"generatedMs": 1715786280000,
			"source": "prometheus-alertmanager-eu"
		}
	}`)
	wantSummary, wantDetails := summary.Render(data), details.Render(data)
	b.ReportAllocs()
	for b.Loop() {
		if s, d := summary.Render(data), details.Render(data); s != wantSummary || d != wantDetails {
			b.Fatalf("got %q, %q", s, d)
		}
	}
}

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

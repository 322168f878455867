package similarity_test

import (
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/similarity"
)

// TestSame lists pairs that differ only in what the score sets aside: they score 1.
func TestSame(t *testing.T) {
	cases := []struct{ name, a, b string }{
		{"Percent", "disk 91% full on host-7", "disk 93% full on host-7"},
		{"Case", "Disk full on DB-1", "disk FULL on db-1"},
		{"Numbers", "5 of 12 replicas down", "3 of 10 replicas down"},
		{"Units", "p99 latency 250ms over 200ms", "p99 latency 1500ms over 200ms"},
		{"UUID", "job 0f8fad5b-d9cb-469f-a165-70867728950e failed", "job 7c9e6679-7425-40de-944b-e07fc1f90ae7 failed"},
		{"IPv4", "connection refused from 10.0.0.12:5432", "connection refused from 192.168.1.7:5432"},
		{"IPv6", "neighbour fe80::1ff:fe23:4567:890a unreachable", "neighbour 2001:db8::8a2e:370:7334 unreachable"},
		{"MAC", "unknown device 00:1a:2b:3c:4d:5e", "unknown device a4:83:e7:01:02:03"},
		{"Timestamps", "backup failed at 2024-03-04T10:15:30Z", "backup failed at 2024-03-05T02:00:01+01:00"},
		{"DateAndClock", "cron 2024-03-04 10:15 missed", "cron 2024-12-31 23:59:59.999 missed"},
		{"HexIDs", "container 3f2a9c1d8e7b exited", "container a1b2c3d4e5f6 exited"},
		{"Hex0x", "segfault at 0x7ffd5e8c", "segfault at 0xdeadbeef"},
		{"LongIDInName", "job-184467 timed out", "job-184512 timed out"},
		{"HashInPodName", "pod api-7f9c8d6b5-x2kq crash looping", "pod api-5d4c3b2a19-x2kq crash looping"},
		{"Punctuation", "Error: disk full (db-1)!", "error disk full db-1"},
		{"BothEmpty", "", "  \t"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := similarity.Score(c.a, c.b); got != 1 {
				t.Errorf("Score(%q, %q) = %.3f, want 1", c.a, c.b, got)
			}
		})
	}
}

func TestScore(t *testing.T) {
	cases := []struct {
		name  string
		a, b  string
		above float64 // the score must be above this…
		below float64 // …and below this
	}{
		{"OtherHost", "Disk full on host-7", "Disk full on host-8", 0.8, 1},
		{"MoreContext", "CPU load high on web-3", "CPU load high on web-3 for the last 15 minutes", 0.5, 0.95},
		{"Reworded", "database connection pool exhausted on api", "api: connection pool of the database exhausted", 0.5, 0.95},
		{"SameCheckOtherService", "HTTP check failed for https://shop.example.com/health", "HTTP check failed for https://blog.example.com/health", 0.8, 1},
		{"Typo", "Certificate expires soon for example.com", "Certifcate expires soon for example.com", 0.8, 1},
		{"SameHostOtherProblem", "Disk full on db-1", "Memory exhausted on db-1", 0, 0.5},
		{"Unrelated", "Disk full on db-1", "CPU load high on web-3", 0, 0.5},
		{"UnrelatedLong", "Backup of the billing database did not finish in time",
			"TLS certificate for the public website expires in 3 days", 0, 0.5},
		{"NumbersOnlyInCommon", "error 500 at 10:15", "disk 91% at 11:00", 0, 0.5},
		{"OneEmpty", "", "Disk full on db-1", -0.001, 0.001},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := similarity.Score(c.a, c.b)
			if !(got > c.above && got < c.below) {
				t.Errorf("Score(%q, %q) = %.3f, want between %.2f and %.2f", c.a, c.b, got, c.above, c.below)
			}
			if back := similarity.Score(c.b, c.a); back != got {
				t.Errorf("Score is not symmetric: %.17f and %.17f", got, back)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	a := strings.Repeat("alpha beta gamma delta epsilon zeta eta theta ", 40)
	b := strings.Repeat("beta gamma delta kappa lambda mu alpha ", 40)
	want := similarity.Score(a, b)
	for range 50 {
		if got := similarity.Score(a, b); got != want {
			t.Fatalf("Score changed between calls: %.17f then %.17f", want, got)
		}
	}
}

// TestLongText checks that only the first MaxLen bytes count: what follows cannot make
// two texts differ.
func TestLongText(t *testing.T) {
	head := strings.Repeat("disk full on db-1 ", similarity.MaxLen/18+1)
	if got := similarity.Score(head+"one tail", head+"another, quite different tail"); got != 1 {
		t.Errorf("texts differing after MaxLen score %.3f, want 1", got)
	}
}

func BenchmarkScore(b *testing.B) {
	x := "[FIRING:1] DiskFull prod db-1.eu-west-1 /var/lib/postgresql 91% used (2024-03-04T10:15:30Z) instance=10.0.3.17:9100"
	y := "[FIRING:1] DiskFull prod db-2.eu-west-1 /var/lib/postgresql 97% used (2024-03-04T10:17:02Z) instance=10.0.3.18:9100"
	b.Run("Strings", func(b *testing.B) {
		for b.Loop() {
			similarity.Score(x, y)
		}
	})
	b.Run("Profiles", func(b *testing.B) {
		px, py := similarity.New(x), similarity.New(y)
		for b.Loop() {
			px.Score(py)
		}
	})
}

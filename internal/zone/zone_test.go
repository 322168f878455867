package zone_test

import (
	"testing"

	"github.com/tocsinhq/tocsin/internal/zone"
)

func TestLoad(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/Argentina/Buenos_Aires", "America/Port-au-Prince", "Etc/GMT+5",
		"Etc/GMT-14", "UTC", "EST5EDT", "Asia/Kolkata", "Australia/Sydney"} {
		if _, err := zone.Load(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"", "Local", "localtime", "posixrules", "posix/Europe/Berlin", "right/UTC", "./Europe/Berlin",
		"Europe//Berlin", "/etc/localtime", "Europe/Berlin/", "../Europe/Berlin", "Europe/Atlantis", "europe/berlin"} {
		if _, err := zone.Load(name); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}

// Package zone loads IANA time zones by name, for everything that keeps a zone (schedules,
// support hours, maintenance windows, users): only names of the IANA form, and with the zone
// data built into the binary for hosts that have none.
package zone

import (
	"regexp"
	"sync"
	"time"
	_ "time/tzdata" // for hosts without zone data

	"github.com/tocsinhq/tocsin/internal/fault"
)

// locations caches loaded zones: time.LoadLocation reads and parses the zone's data every time.
// Only names of the IANA form are loaded, so it holds at most one entry per zone.
var locations sync.Map // string → *time.Location

// zoneName is the form of IANA zone names: segments that start with a capital letter
// (Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+5, UTC). It leaves out the files of
// a zone directory that are not zones (localtime, posixrules, posix/…, right/…) and other
// spellings of a path (./Europe/Berlin, Europe//Berlin).
var zoneName = regexp.MustCompile(`^[A-Z][A-Za-z0-9_+-]*(/[A-Z][A-Za-z0-9_+-]*)*$`)

// Load returns the IANA time zone name. Returns Invalid for an unknown zone, for a
// name not of the IANA form, and for "Local", whose meaning would depend on the host.
func Load(name string) (*time.Location, error) {
	if v, ok := locations.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "Local" || len(name) > 64 || !zoneName.MatchString(name) {
		return nil, fault.Errorf("timezone %q is not an IANA time zone such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fault.Errorf("timezone %q is not an IANA time zone such as Europe/Berlin", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

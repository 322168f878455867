package contact

import (
	"strings"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// region is how a national number of one region becomes international: its country calling
// code, and the trunk prefix national numbers carry that the international form drops.
type region struct {
	code  string
	trunk string
}

// regions are the regions whose national numbers tocsin converts. Elsewhere, numbers must be
// written internationally (+…). Italy keeps its leading 0, as its numbers do internationally.
var regions = map[string]region{
	"AT": {"43", "0"}, "AU": {"61", "0"}, "BE": {"32", "0"}, "CA": {"1", "1"}, "CH": {"41", "0"},
	"CN": {"86", "0"}, "DE": {"49", "0"}, "DK": {"45", ""}, "ES": {"34", ""}, "FI": {"358", "0"},
	"FR": {"33", "0"}, "GB": {"44", "0"}, "IE": {"353", "0"}, "IN": {"91", "0"}, "IT": {"39", ""},
	"JP": {"81", "0"}, "NL": {"31", "0"}, "NO": {"47", ""}, "NZ": {"64", "0"}, "PL": {"48", ""},
	"PT": {"351", ""}, "SE": {"46", "0"}, "US": {"1", "1"},
}

// PhoneE164 returns number in E.164 form: "+" and 8 to 15 digits, the first not 0. It accepts
// the separators people write (spaces, -, ., /, parentheses), "00" for "+", and a national
// number ("030 1234567") when regionCode names a region of the regions table.
func PhoneE164(number, regionCode string) (string, error) {
	digits := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '/', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, number)
	international := false
	switch {
	case strings.HasPrefix(digits, "+"):
		digits, international = digits[1:], true
	case strings.HasPrefix(digits, "00"):
		digits, international = digits[2:], true
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", fault.Errorf("phone number %q must hold only digits, an optional leading +, and spaces or dashes", number)
	}
	if !international {
		r, ok := regions[regionCode]
		if !ok {
			if regionCode == "" {
				return "", fault.Errorf("phone number %q must be international (+ and the country code), or regionCode must say which country it belongs to", number)
			}
			return "", fault.Errorf("phone number %q: tocsin cannot read national numbers of region %q; write it internationally (+ and the country code)", number, regionCode)
		}
		digits = r.code + strings.TrimPrefix(digits, r.trunk)
	}
	if len(digits) < 8 || len(digits) > 15 || digits[0] == '0' {
		return "", fault.Errorf("phone number %q is not a valid number: E.164 allows 8 to 15 digits after the +, the first not 0", number)
	}
	return "+" + digits, nil
}

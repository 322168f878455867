package template_test

import (
	"testing"
)

func TestFunctions(t *testing.T) {
	data := decode(t, `{
		"var": "Test result",
		"gavin": "Gavin Belson from Hooli",
		"owns": "Gavin Belson owns Hooli",
		"club": "Gavin Belson, Richard Hendricks and Russ Hanneman are in the tres commas club",
		"best": "I am the best software engineer at Pied Piper - Dinesh Chugtai",
		"better": "I am better than Gilfoyle - Dinesh Chugtai",
		"fastest": "I am the fastest coder - Dinesh Chugtai",
		"hooli": "Hooli rocks",
		"pp": "Pied Piper",
		"abc": "abc",
		"city": "Köln",
		"umlaut": "Grüße aus Köln",
		"csv": "a,b,,d",
		"ms": 1674950737000,
		"msString": "1674950737123",
		"msFraction": 1674950737000.5,
		"sec": 1674950737,
		"secNegative": -1,
		"huge": 1e300,
		"str": "2021-05-25T21:24:56.771Z",
		"strOffset": "2021-05-25T23:24:56+02:00",
		"strNoZone": "2021-05-25 21:24:56",
		"strDate": "2021-05-25",
		"strRFC1123": "Tue, 25 May 2021 21:24:56 GMT",
		"notADate": "yesterday",
		"array": ["PiedPiper", "Hooli", "Aviato"],
		"mixed": ["a", 1, 2.5, true, null, {"k": "v"}],
		"companies": [
			{"name": "PiedPiper", "ceo": "Richard Hendricks"},
			{"name": "Hooli", "ceo": "Gavin Belson"},
			{"name": "NewPiedPiper"},
			"not an object",
			{"name": "Raviga", "ceo": "Peter Gregory"}
		],
		"num": 42,
		"msg": "error code=E42 at host=db-7 (retry 3)"
	}`)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"substringFrom", `{{ var.substring(5) }}`, "result"},
		{"substringRange", `{{ var.substring(5, 8) }}`, "res"},
		{"substringZero", `{{ var.substring(0, 4) }}`, "Test"},
		{"substringPastEnd", `[{{ var.substring(50) }}]`, "[]"},
		{"substringEndPastEnd", `{{ var.substring(5, 500) }}`, "result"},
		{"substringEmpty", `[{{ var.substring(3, 3) }}]`, "[]"},
		{"substringCharacters", `{{ umlaut.substring(2, 5) }}`, "üße"},
		{"substringNumber", `{{ num.substring(1) }}`, "2"},
		{"substringMissing", `[{{ nothing.substring(1) }}]`, "[]"},

		{"lowerCase", `{{ gavin.lowerCase() }}`, "gavin belson from hooli"},
		{"upperCase", `{{ gavin.upperCase() }}`, "GAVIN BELSON FROM HOOLI"},
		{"upperCaseUnicode", `{{ city.upperCase() }}`, "KÖLN"},
		{"lowerCaseMissing", `[{{ nothing.lowerCase() }}]`, "[]"},

		{"replaceAll", `{{ owns.replaceAll("Gavin Belson", "Richard Hendricks") }}`, "Richard Hendricks owns Hooli"},
		{"replaceAllEvery", `{{ csv.replaceAll(",", " | ") }}`, "a | b |  | d"},
		{"replaceAllShorter", `{{ csv.replaceAll(",", "") }}`, "abd"},
		{"replaceAllNoMatch", `{{ pp.replaceAll("x", "y") }}`, "Pied Piper"},
		{"replaceAllEmptyOld", `{{ abc.replaceAll("", "-") }}`, "-a-b-c-"},
		{"replaceAllNotRegex", `{{ msg.replaceAll(".", "!") }}`, "error code=E42 at host=db-7 (retry 3)"},
		{"replaceAllEscapes", `{{ csv.replaceAll(",", "\n") }}`, "a\nb\n\nd"},
		{"replaceAllSingleQuotes", `{{ pp.replaceAll('Pied', 'Pie"d') }}`, `Pie"d Piper`},

		{"splitTakeAt", `{{ club.splitTakeAt("Belson, ", 1) }}`, "Richard Hendricks and Russ Hanneman are in the tres commas club"},
		{"splitTakeAtFirst", `{{ csv.splitTakeAt(",", 0) }}`, "a"},
		{"splitTakeAtEmptyPart", `[{{ csv.splitTakeAt(",", 2) }}]`, "[]"},
		{"splitTakeAtLast", `{{ csv.splitTakeAt(",", 3) }}`, "d"},
		{"splitTakeAtOutOfRange", `[{{ csv.splitTakeAt(",", 4) }}]`, "[]"},
		{"splitTakeAtNoDelimiter", `{{ pp.splitTakeAt("#", 0) }}`, "Pied Piper"},
		{"splitTakeAtEmptyDelimiter", `{{ umlaut.splitTakeAt("", 3) }}`, "ß"},

		{"startsWithTakeMatch", `{{ best.startsWithTake("I am the best", "In your dreams - Bertram Gilfoyle") }}`, "In your dreams - Bertram Gilfoyle"},
		{"startsWithTakeNoMatch", `{{ pp.startsWithTake("I am the best", "In your dreams") }}`, "Pied Piper"},
		{"equalsTakeMatch", `{{ better.equalsTake("I am better than Gilfoyle - Dinesh Chugtai", "Not true - Bertram Gilfoyle") }}`, "Not true - Bertram Gilfoyle"},
		{"equalsTakeNoMatch", `{{ pp.equalsTake("Pied", "x") }}`, "Pied Piper"},
		{"equalsTakeCaseSensitive", `{{ pp.equalsTake("pied piper", "x") }}`, "Pied Piper"},
		{"endsWithTakeMatch", `{{ fastest.endsWithTake("Dinesh Chugtai", "Flys - Bertram Gilfoyle") }}`, "Flys - Bertram Gilfoyle"},
		{"endsWithTakeNoMatch", `{{ pp.endsWithTake("Dinesh Chugtai", "x") }}`, "Pied Piper"},
		{"containsTakeMatch", `{{ hooli.containsTake("rocks", "Pied Piper rocks") }}`, "Pied Piper rocks"},
		{"containsTakeNoMatch", `{{ pp.containsTake("rocks", "x") }}`, "Pied Piper"},

		{"startsWithTakeOrDropMatch", `{{ best.startsWithTakeOrDrop("I am the best", "In your dreams") }}`, "In your dreams"},
		{"startsWithTakeOrDropNoMatch", `[{{ pp.startsWithTakeOrDrop("I am the best", "In your dreams") }}]`, "[]"},
		{"equalsTakeOrDropMatch", `{{ pp.equalsTakeOrDrop("Pied Piper", "PP") }}`, "PP"},
		{"equalsTakeOrDropNoMatch", `[{{ hooli.equalsTakeOrDrop("Pied Piper", "PP") }}]`, "[]"},
		{"endsWithTakeOrDropMatch", `{{ fastest.endsWithTakeOrDrop("Dinesh Chugtai", "Flys") }}`, "Flys"},
		{"endsWithTakeOrDropNoMatch", `[{{ pp.endsWithTakeOrDrop("Dinesh Chugtai", "Flys") }}]`, "[]"},
		{"containsTakeOrDropMatch", `{{ hooli.containsTakeOrDrop("rocks", "Pied Piper rocks") }}`, "Pied Piper rocks"},
		{"containsTakeOrDropNoMatch", `[{{ pp.containsTakeOrDrop("rocks", "Pied Piper rocks") }}]`, "[]"},

		{"startsWithElseMatch", `{{ best.startsWithElse("I am the best", "In your dreams") }}`, "I am the best software engineer at Pied Piper - Dinesh Chugtai"},
		{"startsWithElseNoMatch", `{{ pp.startsWithElse("I am the best", "In your dreams") }}`, "In your dreams"},
		{"equalsElseMatch", `{{ pp.equalsElse("Pied Piper", "other") }}`, "Pied Piper"},
		{"equalsElseNoMatch", `{{ hooli.equalsElse("Pied Piper", "other") }}`, "other"},
		{"equalsTakeDefaultsMissing", `{{ nothing.equalsTake("", "n/a") }} {{ pp.equalsTake("", "n/a") }}`, "n/a Pied Piper"},
		{"endsWithElseMatch", `{{ fastest.endsWithElse("Dinesh Chugtai", "Flys") }}`, "I am the fastest coder - Dinesh Chugtai"},
		{"endsWithElseNoMatch", `{{ pp.endsWithElse("Dinesh Chugtai", "Flys") }}`, "Flys"},
		{"containsElseMatch", `{{ hooli.containsElse("rocks", "Pied Piper rocks") }}`, "Hooli rocks"},
		{"containsElseNoMatch", `{{ pp.containsElse("rocks", "Pied Piper rocks") }}`, "Pied Piper rocks"},

		{"startsWithElseOrDropMatch", `[{{ best.startsWithElseOrDrop("I am the best", "In your dreams") }}]`, "[]"},
		{"startsWithElseOrDropNoMatch", `{{ pp.startsWithElseOrDrop("I am the best", "In your dreams") }}`, "In your dreams"},
		{"equalsElseOrDropMatch", `[{{ pp.equalsElseOrDrop("Pied Piper", "other") }}]`, "[]"},
		{"equalsElseOrDropNoMatch", `{{ hooli.equalsElseOrDrop("Pied Piper", "other") }}`, "other"},
		{"endsWithElseOrDropMatch", `[{{ fastest.endsWithElseOrDrop("Dinesh Chugtai", "Flys") }}]`, "[]"},
		{"endsWithElseOrDropNoMatch", `{{ pp.endsWithElseOrDrop("Dinesh Chugtai", "Flys") }}`, "Flys"},
		{"containsElseOrDropMatch", `[{{ hooli.containsElseOrDrop("rocks", "Pied Piper rocks") }}]`, "[]"},
		{"containsElseOrDropNoMatch", `{{ pp.containsElseOrDrop("rocks", "Pied Piper rocks") }}`, "Pied Piper rocks"},

		{"formatUnixMs", `{{ ms.formatUnixMs() }}`, "Jan 29, 2023, 12:05:37 AM"},
		{"formatUnixMsF", `{{ ms.formatUnixMs("F") }}`, "Sunday, January 29, 2023 at 12:05:37 AM Coordinated Universal Time"},
		{"formatUnixMsL", `{{ ms.formatUnixMs("L") }}`, "January 29, 2023 at 12:05:37 AM UTC"},
		{"formatUnixMsM", `{{ ms.formatUnixMs("M") }}`, "Jan 29, 2023, 12:05:37 AM"},
		{"formatUnixMsS", `{{ ms.formatUnixMs("S") }}`, "1/29/23, 12:05 AM"},
		{"formatUnixMsLowerCaseStyle", `{{ ms.formatUnixMs("s") }}`, "1/29/23, 12:05 AM"},
		{"formatUnixMsOtherStyleIsM", `{{ ms.formatUnixMs("X") }}`, "Jan 29, 2023, 12:05:37 AM"},
		{"formatUnixMsString", `{{ msString.formatUnixMs() }}`, "Jan 29, 2023, 12:05:37 AM"},
		{"formatUnixMsFraction", `{{ msFraction.formatUnixMs() }}`, "Jan 29, 2023, 12:05:37 AM"},
		{"formatUnixMsNotANumber", `{{ pp.formatUnixMs() }}`, "Pied Piper"},
		{"formatUnixMsOutOfRange", `{{ huge.formatUnixMs() }}`, "1e+300"},
		{"formatUnixMsMissing", `[{{ nothing.formatUnixMs() }}]`, "[]"},
		{"formatUnixSec", `{{ sec.formatUnixSec() }}`, "Jan 29, 2023, 12:05:37 AM"},
		{"formatUnixSecS", `{{ sec.formatUnixSec("S") }}`, "1/29/23, 12:05 AM"},
		{"formatUnixSecBeforeEpoch", `{{ secNegative.formatUnixSec("L") }}`, "December 31, 1969 at 11:59:59 PM UTC"},
		{"formatDateString", `{{ str.formatDateString() }}`, "May 25, 2021, 9:24:56 PM"},
		{"formatDateStringS", `{{ str.formatDateString("S") }}`, "5/25/21, 9:24 PM"},
		{"formatDateStringF", `{{ str.formatDateString("F") }}`, "Tuesday, May 25, 2021 at 9:24:56 PM Coordinated Universal Time"},
		{"formatDateStringOffsetToUTC", `{{ strOffset.formatDateString() }}`, "May 25, 2021, 9:24:56 PM"},
		{"formatDateStringNoZone", `{{ strNoZone.formatDateString() }}`, "May 25, 2021, 9:24:56 PM"},
		{"formatDateStringDateOnly", `{{ strDate.formatDateString("S") }}`, "5/25/21, 12:00 AM"},
		{"formatDateStringRFC1123", `{{ strRFC1123.formatDateString() }}`, "May 25, 2021, 9:24:56 PM"},
		{"formatDateStringUnreadable", `{{ notADate.formatDateString() }}`, "yesterday"},
		{"formatDateStringMissing", `[{{ nothing.formatDateString() }}]`, "[]"},

		{"join", `{{ array.join() }}`, "PiedPiper, Hooli, Aviato"},
		{"joinDelimiter", `{{ array.join("- ") }}`, "PiedPiper- Hooli- Aviato"},
		{"joinEmptyDelimiter", `{{ array.join("") }}`, "PiedPiperHooliAviato"},
		{"joinMixed", `{{ mixed.join("|") }}`, `a|1|2.5|true||{"k":"v"}`},
		{"joinScalar", `{{ pp.join() }}`, "Pied Piper"},
		{"joinMissing", `[{{ nothing.join() }}]`, "[]"},

		{"joinFromObjectArr", `{{ companies.joinFromObjectArr("name") }}`, "PiedPiper\nHooli\nNewPiedPiper\nRaviga"},
		{"joinFromObjectArrDelimiter", `{{ companies.joinFromObjectArr("ceo", "+") }}`, "Richard Hendricks+Gavin Belson+Peter Gregory"},
		{"joinFromObjectArray", `{{ companies.joinFromObjectArray("name", ", ") }}`, "PiedPiper, Hooli, NewPiedPiper, Raviga"},
		{"joinFromObjectArrNotArray", `[{{ pp.joinFromObjectArr("name") }}]`, "[]"},

		{"extractRegex", `{{ msg.extractRegex("E\d+") }}`, "E42"},
		{"extractRegexFirstMatch", `{{ msg.extractRegex("[a-z]+=") }}`, "code="},
		{"extractRegexNoMatch", `[{{ msg.extractRegex("^x") }}]`, "[]"},
		{"extractRegexGroups", `{{ msg.extractRegexGroups("host=([a-z]+)-(\d+)") }}`, "db7"},
		{"extractRegexGroupsOptionalGroup", `{{ msg.extractRegexGroups("(code)=(x)?E") }}`, "code"},
		{"extractRegexGroupsNoGroups", `{{ msg.extractRegexGroups("retry \d") }}`, "retry 3"},
		{"extractRegexGroupsNoMatch", `[{{ msg.extractRegexGroups("(zzz)") }}]`, "[]"},
		{"extractRegexEscapedQuote", `{{ gavin.extractRegex("\"?Hoo\w+") }}`, "Hooli"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.text).Render(data); got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// TestFormatDateStringForms reads every form docs/templates.md lists: with T or a space, with
// seconds, fractions of a second or neither, with Z, an offset with or without a colon, or no
// zone (UTC).
func TestFormatDateStringForms(t *testing.T) {
	tmpl := mustParse(t, `{{ v.formatDateString() }}`)
	for _, tc := range []struct{ in, want string }{
		{"2021-05-25T21:24:56Z", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25T21:24:56.771Z", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25T23:24:56+02:00", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25T23:24:56+0200", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25T23:24:56.5+0200", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25T21:24:56", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25 21:24:56Z", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25 21:24:56.5Z", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25 23:24:56+02:00", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25 23:24:56+0200", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25 21:24:56", "May 25, 2021, 9:24:56 PM"},
		{"2021-05-25T21:24Z", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25T23:24+02:00", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25T21:24+0000", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25T23:24+0200", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25T21:24", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25 21:24", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25 21:24Z", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25 21:24+00:00", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25 23:24+02:00", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25 21:24+0000", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25 19:24-0200", "May 25, 2021, 9:24:00 PM"},
		{" 2021-05-25 21:24 ", "May 25, 2021, 9:24:00 PM"},
		{"2021-05-25", "May 25, 2021, 12:00:00 AM"},
		{"Tue, 25 May 2021 21:24:56 GMT", "May 25, 2021, 9:24:56 PM"},
		{"Tue, 25 May 2021 23:24:56 +0200", "May 25, 2021, 9:24:56 PM"},
		// Not dates.
		{"2021-05-25 21", "2021-05-25 21"},
		{"2021-05-25 21:24+00", "2021-05-25 21:24+00"},
		{"2021-05-25 21:24 Z", "2021-05-25 21:24 Z"},
		{"10000-01-01 00:00", "10000-01-01 00:00"},
	} {
		if got := tmpl.Render(map[string]any{"v": tc.in}); got != tc.want {
			t.Errorf("formatDateString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

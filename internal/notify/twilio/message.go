package twilio

import (
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/notify"
)

// An SMS is kept to two segments: 306 characters of the GSM 7-bit alphabet, or 134 UTF-16 code
// units when any character is outside it (an emoji, most non-Latin scripts). Longer texts
// cost more, arrive in pieces on some phones, and are not needed to wake someone up.
const (
	maxGSM7 = 2 * 153
	maxUCS2 = 2 * 67
)

// menu says which answers make sense for an alert in status.
func menu(status string) (accept, resolve bool) {
	switch strings.ToUpper(status) {
	case "RESOLVED":
		return false, false
	case "ACCEPTED":
		return false, true
	}
	return true, true
}

// SMSBody is the text of the SMS for m: "tocsin HIGH: <summary> - reply 1 to accept, 2 to
// resolve (alert 42)", the summary shortened so the whole text stays within two segments.
// Only ASCII is added around the summary, so a plain summary keeps the cheap GSM alphabet. A
// standalone message is "tocsin: <subject>", a line break and its text, shortened the same
// way, with nothing to reply.
func SMSBody(m notify.Message) string {
	if m.Standalone() {
		text := strings.Join(strings.Fields(m.Subject), " ")
		if body := strings.TrimSpace(m.Text); body != "" {
			text += "\n" + body
		}
		if text == "" {
			text = "(no text)"
		}
		return fitSMS("tocsin: ", strings.TrimSpace(text), "")
	}
	head := "tocsin"
	if p := strings.ToUpper(strings.TrimSpace(m.Priority)); p != "" {
		head += " " + p
	}
	if s := strings.ToUpper(m.Status); s == "ACCEPTED" || s == "RESOLVED" {
		head += " " + s
	}
	head += ": "
	tail := ""
	switch accept, resolve := menu(m.Status); {
	case accept && resolve:
		tail = " - reply 1 to accept, 2 to resolve"
	case resolve:
		tail = " - reply 2 to resolve"
	}
	tail += " (alert " + strconv.FormatInt(m.AlertID, 10) + ")"

	summary := strings.Join(strings.Fields(m.Summary), " ")
	if summary == "" {
		summary = "(no summary)"
	}
	return fitSMS(head, summary, tail)
}

// fitSMS returns head + text + tail, with text shortened (and the cut marked) so the whole
// stays within two segments.
func fitSMS(head, text, tail string) string {
	fits := func(s string) bool {
		text := head + s + tail
		if isGSM7(text) {
			return gsm7Len(text) <= maxGSM7
		}
		return utf16Len(text) <= maxUCS2
	}
	if fits(text) {
		return head + text + tail
	}
	// Drop characters from the end until it fits, marking the cut.
	// No text longer than maxGSM7 characters fits, so start there, whatever the text's length.
	runes := []rune(text)
	for n := min(len(runes)-1, maxGSM7); n > 0; n-- {
		s := strings.TrimRight(string(runes[:n]), " ") + "..."
		if fits(s) {
			return head + s + tail
		}
	}
	return head + "..." + tail
}

// The GSM 03.38 basic character set, and the extension table whose characters take two septets.
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "\f^{}\\[~]|€"
)

func isGSM7(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune(gsm7Basic, r) && !strings.ContainsRune(gsm7Ext, r) {
			return false
		}
	}
	return true
}

func gsm7Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if strings.ContainsRune(gsm7Ext, r) {
			n++
		}
	}
	return n
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++ // a surrogate pair
		}
	}
	return n
}

// maxSpoken bounds the summary read aloud; Twilio takes at most 4,000 characters of TwiML.
const maxSpoken = 400

type response struct {
	XMLName xml.Name  `xml:"Response"`
	Gather  *gather   `xml:"Gather,omitempty"`
	Say     []say     `xml:"Say"`
	Message []string  `xml:"Message"`
	Hangup  *struct{} `xml:"Hangup,omitempty"`
}

type gather struct {
	NumDigits int    `xml:"numDigits,attr"`
	Action    string `xml:"action,attr"`
	Method    string `xml:"method,attr"`
	Timeout   int    `xml:"timeout,attr"`
	Say       say    `xml:"Say"`
}

type say struct {
	Loop int    `xml:"loop,attr,omitempty"`
	Text string `xml:",chardata"`
}

func (r response) String() string {
	out, err := xml.Marshal(r)
	if err != nil { // cannot happen: the types are fixed and strings are escaped
		panic("twilio: marshal TwiML: " + err.Error())
	}
	return xml.Header + string(out)
}

// VoiceTwiML is the TwiML of the call for m: it reads the alert aloud, twice, inside a
// one-digit <Gather> whose keypress Twilio POSTs to gatherURL, then says goodbye if no key was
// pressed. A standalone message is read aloud twice, its subject and text, with no menu (and
// gatherURL is not used). All text is XML-escaped.
func VoiceTwiML(m notify.Message, gatherURL string) string {
	if m.Standalone() {
		text := "This is tocsin."
		for _, part := range []string{m.Subject, m.Text} {
			if part = strings.TrimRight(spoken(part), ".!?:; "); part != "" {
				text += " " + part + "."
			}
		}
		return response{
			Say:    []say{{Loop: 2, Text: text}, {Text: "Goodbye."}},
			Hangup: &struct{}{},
		}.String()
	}
	summary := spoken(m.Summary)
	var b strings.Builder
	b.WriteString("This is tocsin. ")
	if p := strings.TrimSpace(m.Priority); p != "" {
		b.WriteString(strings.ToLower(p) + " priority ")
	}
	b.WriteString("alert: ")
	if summary == "" {
		summary = "no summary"
	}
	b.WriteString(strings.TrimRight(summary, ".!? ") + ". ")
	switch accept, resolve := menu(m.Status); {
	case accept && resolve:
		b.WriteString("Press 1 to accept, press 2 to resolve.")
	case resolve:
		b.WriteString("It is accepted. Press 2 to resolve.")
	default:
		b.WriteString("It is resolved.")
	}
	return response{
		Gather: &gather{
			NumDigits: 1,
			Action:    gatherURL,
			Method:    "POST",
			Timeout:   8,
			Say:       say{Loop: 2, Text: b.String()},
		},
		Say:    []say{{Text: "No key was pressed. Goodbye."}},
		Hangup: &struct{}{},
	}.String()
}

// spoken is s on one line, shortened to maxSpoken characters.
func spoken(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSpoken {
		s = string([]rune(s)[:maxSpoken]) + "..."
	}
	return s
}

// GatherResponse is the TwiML answered to the keypress callback: whether action ("accept" or
// "resolve", as from ParseDigits) was carried out (ok), and goodbye. An empty action means the
// key was not an option.
func GatherResponse(action string, ok bool) string {
	var text string
	switch {
	case action == "":
		text = "That key is not an option. The alert is unchanged. Goodbye."
	case ok && action == ActionAccept:
		text = "Alert accepted. Goodbye."
	case ok && action == ActionResolve:
		text = "Alert resolved. Goodbye."
	case action == ActionAccept:
		text = "Sorry, the alert could not be accepted. It may already be accepted or resolved. Goodbye."
	case action == ActionResolve:
		text = "Sorry, the alert could not be resolved. It may already be resolved. Goodbye."
	default:
		text = "That key is not an option. The alert is unchanged. Goodbye."
	}
	return response{Say: []say{{Text: text}}, Hangup: &struct{}{}}.String()
}

// SMSReplyResponse is the TwiML answered to an incoming SMS (SMSReplyPath): a text back saying
// whether action was carried out on alert (ok), or how to answer when action is "". An alert of
// 0 means none was found for the sender.
func SMSReplyResponse(action string, alert int64, ok bool) string {
	id := strconv.FormatInt(alert, 10)
	var text string
	switch {
	case action == "":
		text = "tocsin: reply 1 to accept or 2 to resolve; add the alert number if you were paged for several (\"1 42\")."
	case alert == 0:
		text = "tocsin: no alert you were paged for is open."
	case ok && action == ActionAccept:
		text = "tocsin: alert " + id + " accepted."
	case ok && action == ActionResolve:
		text = "tocsin: alert " + id + " resolved."
	case action == ActionAccept:
		text = "tocsin: alert " + id + " could not be accepted; it may already be accepted or resolved."
	default:
		text = "tocsin: alert " + id + " could not be resolved; it may already be resolved."
	}
	return response{Message: []string{text}}.String()
}

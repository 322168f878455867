package email

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/notify"
)

// maxSubject bounds the summary in the subject line, in characters.
const maxSubject = 200

// Subject is the subject line for m: "[tocsin] HIGH: <summary>", with the status added once
// the alert is no longer pending ("[tocsin] HIGH RESOLVED: …") and the summary on one line. A
// standalone message's subject is "[tocsin] <subject>".
func Subject(m notify.Message) string {
	if m.Standalone() {
		subject := oneLine(m.Subject)
		if subject == "" {
			subject = "(no subject)"
		}
		return "[tocsin] " + subject
	}
	var b strings.Builder
	b.WriteString("[tocsin]")
	if p := strings.ToUpper(strings.TrimSpace(m.Priority)); p != "" {
		b.WriteString(" " + p)
	}
	if s := strings.ToUpper(m.Status); s == "ACCEPTED" || s == "RESOLVED" {
		b.WriteString(" " + s)
	}
	summary := oneLine(m.Summary)
	if summary == "" {
		summary = "(no summary)"
	}
	b.WriteString(": " + summary)
	return b.String()
}

// oneLine puts s on one line, shortened to maxSubject characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSubject {
		s = string([]rune(s)[:maxSubject]) + "..."
	}
	return s
}

type view struct {
	notify.Message
	Reported string
}

func newView(m notify.Message) view {
	v := view{Message: m}
	if !m.ReportAt.IsZero() {
		v.Reported = m.ReportAt.UTC().Format(time.RFC1123)
	}
	return v
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(`{{.Summary}}

Priority: {{.Priority}}
Status:   {{.Status}}
{{- if .Source}}
Source:   {{.Source}}{{end}}
Alert:    #{{.AlertID}}
{{- if .Reported}}
Reported: {{.Reported}}{{end}}
{{- if .Details}}

{{.Details}}{{end}}
{{if .AcceptURL}}
Accept:  {{.AcceptURL}}{{end}}
{{- if .ResolveURL}}
Resolve: {{.ResolveURL}}{{end}}
{{- if .AlertURL}}
Open:    {{.AlertURL}}{{end}}

-- 
Sent by tocsin because you are on call for this alert.
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Summary}}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1a1a1a;">
<h2 style="margin: 0 0 12px 0;">{{.Summary}}</h2>
<table style="border-collapse: collapse; margin-bottom: 12px;">
<tr><td style="padding: 2px 12px 2px 0; color: #555;">Priority</td><td><strong>{{.Priority}}</strong></td></tr>
<tr><td style="padding: 2px 12px 2px 0; color: #555;">Status</td><td>{{.Status}}</td></tr>
{{- if .Source}}
<tr><td style="padding: 2px 12px 2px 0; color: #555;">Source</td><td>{{.Source}}</td></tr>{{end}}
<tr><td style="padding: 2px 12px 2px 0; color: #555;">Alert</td><td>#{{.AlertID}}</td></tr>
{{- if .Reported}}
<tr><td style="padding: 2px 12px 2px 0; color: #555;">Reported</td><td>{{.Reported}}</td></tr>{{end}}
</table>
{{- if .Details}}
<pre style="white-space: pre-wrap; font-family: inherit; background: #f4f4f4; padding: 8px;">{{.Details}}</pre>{{end}}
<p>
{{- if .AcceptURL}}
<a href="{{.AcceptURL}}" style="display: inline-block; padding: 8px 16px; margin-right: 8px; background: #1f6feb; color: #fff; text-decoration: none; border-radius: 4px;">Accept</a>{{end}}
{{- if .ResolveURL}}
<a href="{{.ResolveURL}}" style="display: inline-block; padding: 8px 16px; margin-right: 8px; background: #1a7f37; color: #fff; text-decoration: none; border-radius: 4px;">Resolve</a>{{end}}
{{- if .AlertURL}}
<a href="{{.AlertURL}}" style="display: inline-block; padding: 8px 16px;">Open the alert</a>{{end}}
</p>
<p style="color: #777; font-size: 12px;">Sent by tocsin because you are on call for this alert.</p>
</body>
</html>
`))

// standaloneText and standaloneHTML are the bodies of a message not about an alert: its text,
// and nothing to accept, resolve or open.
var standaloneText = texttemplate.Must(texttemplate.New("text").Parse(`{{.Text}}

-- 
Sent by tocsin because of your notification preferences.
`))

var standaloneHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1a1a1a;">
<h2 style="margin: 0 0 12px 0;">{{.Subject}}</h2>
<p style="white-space: pre-wrap;">{{.Text}}</p>
<p style="color: #777; font-size: 12px;">Sent by tocsin because of your notification preferences.</p>
</body>
</html>
`))

// render returns the plain-text and HTML bodies for m. The HTML escapes everything taken from
// the alert or the message, and drops links that are not http(s).
func render(m notify.Message) (text, html string, err error) {
	textT, htmlT := textBody, htmlBody
	if m.Standalone() {
		textT, htmlT = standaloneText, standaloneHTML
	}
	v := newView(m)
	var t, h strings.Builder
	if err := textT.Execute(&t, v); err != nil {
		return "", "", err
	}
	if err := htmlT.Execute(&h, v); err != nil {
		return "", "", err
	}
	return t.String(), h.String(), nil
}

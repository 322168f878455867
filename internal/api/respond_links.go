package api

import (
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"net/http"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/notify"
)

// respondPage is the page behind an accept or resolve link. Following the link only shows it:
// mail scanners that open every link must not accept alerts, so the action needs the button.
var respondPage = template.Must(template.New("respond").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tocsin</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto; padding: 0 1em">
{{if .Error}}<h1>Sorry</h1><p>{{.Error}}</p>
{{else if .Done}}<h1>Alert {{.AlertID}} {{.Status}}</h1><p>{{.Summary}}</p>
{{else}}<h1>{{.Verb}} alert {{.AlertID}}?</h1><p>{{.Summary}}</p>
<form method="post"><button type="submit" style="font-size: 1.2em; padding: .5em 1.5em">{{.Verb}}</button></form>{{end}}
</body></html>
`))

type respondView struct {
	Error   string
	Done    bool
	AlertID int64
	Verb    string
	Status  string
	Summary string
}

// respondByLink serves GET (the confirmation page) and POST (the action) of /respond/{token}.
// Only a POST acts: link checkers and previews send GET or HEAD, and must not use the link.
func (s *Server) respondByLink(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	view := respondView{}
	status := http.StatusOK
	l, err := auth.ParseLink(s.linkKey, token, time.Now())
	switch {
	case err != nil:
		view.Error, status = fault.MessageOf(err), statusOf(fault.CodeOf(err))
	case r.Method != http.MethodPost:
		a, err := s.store.Alert(r.Context(), l.AlertID)
		if err != nil {
			view.Error, status = "This alert no longer exists.", http.StatusNotFound
			break
		}
		view = respondView{AlertID: a.ID, Verb: map[string]string{auth.LinkAccept: "Accept", auth.LinkResolve: "Resolve"}[l.Action], Summary: a.Summary}
	default:
		sum := sha256.Sum256([]byte(token))
		a, err := s.store.RespondByLink(r.Context(), l, hex.EncodeToString(sum[:]))
		if err != nil {
			if fault.CodeOf(err) == fault.Internal {
				return err
			}
			view.Error, status = fault.MessageOf(err), statusOf(fault.CodeOf(err))
			break
		}
		view = respondView{Done: true, AlertID: a.ID, Status: string(a.Status), Summary: a.Summary}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	return respondPage.Execute(w, view)
}

func (s *Server) alertNotifications(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := s.store.Notifications(r.Context(), id)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].Target = notify.ShownTarget(notify.Method(list[i].Method), list[i].Target)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

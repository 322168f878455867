package api

import (
	"net/http"
	"net/url"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/notify/twilio"
)

// twilioRoutes registers the callbacks Twilio makes: SMS replies, keypresses in voice calls,
// and delivery statuses. Every one must carry Twilio's signature over tocsin's public URL.
func (s *Server) twilioRoutes() {
	s.public("POST "+twilio.SMSReplyPath, s.twilioSMS)
	s.public("POST "+twilio.GatherPath, s.twilioGather)
	s.public("POST "+twilio.SMSStatusPath, s.twilioStatus)
	s.public("POST "+twilio.VoiceStatusPath, s.twilioStatus)
}

// twilioForm reads and verifies a callback; unsigned or wrongly signed requests are refused.
func (s *Server) twilioForm(r *http.Request) (url.Values, error) {
	if s.twilio == nil {
		return nil, fault.NotFoundf("SMS and voice are not configured")
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fault.Errorf("the body is not a form: %v", err)
	}
	r.Body = http.NoBody
	r.PostForm, r.Form = form, form
	if !s.twilio.VerifyRequest(r) {
		return nil, fault.New(fault.Forbidden, "the request does not carry a valid Twilio signature")
	}
	return form, nil
}

var twilioActions = map[string]alert.Status{twilio.ActionAccept: alert.Accepted, twilio.ActionResolve: alert.Resolved}

func writeTwiML(w http.ResponseWriter, twiml string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(twiml))
}

// twilioSMS handles a text to tocsin's number: "1" accepts, "2" resolves the latest alert
// sent to the sender, or the one the reply names ("1 42").
func (s *Server) twilioSMS(w http.ResponseWriter, r *http.Request) error {
	form, err := s.twilioForm(r)
	if err != nil {
		return err
	}
	in := twilio.ParseInboundSMS(form)
	if in.Action == "" {
		writeTwiML(w, twilio.SMSReplyResponse("", 0, false))
		return nil
	}
	a, err := s.store.RespondByPhone(r.Context(), in.From, in.AlertID, 0, twilioActions[in.Action], "SMS", smsRef(in.MessageSID))
	switch {
	case fault.Is(err, fault.NotFound):
		writeTwiML(w, twilio.SMSReplyResponse(in.Action, 0, false))
		return nil
	case err != nil && fault.CodeOf(err) == fault.Internal:
		return err
	}
	id := a.ID
	if id == 0 { // the change was refused (a resolved alert cannot be accepted)
		id = in.AlertID
	}
	writeTwiML(w, twilio.SMSReplyResponse(in.Action, id, err == nil && a.Status == twilioActions[in.Action]))
	return nil
}

// smsRef and callRef name a reply for RespondByPhone, so that it is carried out once: an SMS
// by its message id, a keypress by its call and the action (a call answers once per action).
func smsRef(messageSID string) string {
	if messageSID == "" {
		return ""
	}
	return "twilio-sms:" + messageSID
}

func callRef(callSID, action string) string {
	if callSID == "" {
		return ""
	}
	return "twilio-call:" + callSID + ":" + action
}

// twilioGather handles the key pressed during a voice call.
func (s *Server) twilioGather(w http.ResponseWriter, r *http.Request) error {
	form, err := s.twilioForm(r)
	if err != nil {
		return err
	}
	k, err := twilio.ParseGather(r.URL.Query(), form)
	if err != nil {
		return fault.Errorf("%v", err)
	}
	if k.Action == "" {
		writeTwiML(w, twilio.GatherResponse("", false))
		return nil
	}
	a, err := s.store.RespondByPhone(r.Context(), k.To, k.AlertID, k.MessageID, twilioActions[k.Action], "voice call", callRef(k.CallSID, k.Action))
	if err != nil && fault.CodeOf(err) == fault.Internal {
		return err
	}
	writeTwiML(w, twilio.GatherResponse(k.Action, err == nil && a.ID == k.AlertID && a.Status == twilioActions[k.Action]))
	return nil
}

// twilioStatus records a message that did not reach its phone on the alert's timeline.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) error {
	form, err := s.twilioForm(r)
	if err != nil {
		return err
	}
	st, err := twilio.ParseStatus(r.URL.Query(), form)
	if err != nil {
		return fault.Errorf("%v", err)
	}
	if st.Failed {
		if err := s.store.NotificationUndelivered(r.Context(), st.AlertID, st.MessageID, st.Status, st.ErrorCode); err != nil &&
			!fault.Is(err, fault.NotFound) {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

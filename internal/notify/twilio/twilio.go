// Package twilio sends SMS and voice calls through Twilio's REST API (or a service that speaks
// it), and holds what tocsin's Twilio webhook endpoints need: signature verification, reply
// and keypress parsing, and the TwiML answered after a keypress.
package twilio

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/notify"
)

// DefaultBaseURL is Twilio's API.
const DefaultBaseURL = "https://api.twilio.com"

// DefaultTimeout bounds one API request when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Paths under Config.PublicURL that tocsin gives Twilio for callbacks. tocsin's HTTP server
// must route them (POST) to handlers that check the signature with VerifyRequest.
const (
	// GatherPath receives the keypress of a voice call (ParseGather); query alert and msg.
	GatherPath = "/api/twilio/voice/gather"
	// VoiceStatusPath receives a call's status changes (ParseStatus); query alert and msg.
	VoiceStatusPath = "/api/twilio/voice/status"
	// SMSStatusPath receives a message's delivery status (ParseStatus); query alert and msg.
	SMSStatusPath = "/api/twilio/sms/status"
	// SMSReplyPath is where replies to tocsin's number arrive (ParseInboundSMS). Twilio does not
	// take it per message: set it as the number's "A message comes in" webhook in Twilio.
	SMSReplyPath = "/api/twilio/sms"
)

// Config configures the channel.
type Config struct {
	AccountSID string // the account (or subaccount) SID, "AC…"
	AuthToken  string // signs API requests (basic auth) and Twilio's callbacks
	From       string // tocsin's number in E.164, "+14155550100"
	// BaseURL is Twilio's API, or a compatible service's; empty means DefaultBaseURL. A path is
	// kept: "https://example.com/api/laml" calls ".../api/laml/2010-04-01/Accounts/...".
	BaseURL string
	// PublicURL is where Twilio reaches tocsin ("https://tocsin.example.com"), the base of the
	// keypress and status callback URLs.
	PublicURL string
	Timeout   time.Duration // per API request; zero means DefaultTimeout
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Validate checks that the configuration can work, naming the field that is wrong.
func (c Config) Validate() error {
	var errs []error
	if c.AccountSID == "" {
		errs = append(errs, errors.New("account SID is required"))
	} else if strings.ContainsAny(c.AccountSID, "/?#% ") {
		errs = append(errs, errors.New("account SID contains characters that cannot be in an SID"))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("auth token is required"))
	}
	if !e164.MatchString(c.From) {
		errs = append(errs, fmt.Errorf("from number %q is not in E.164 form (+ then country code and number, digits only)", c.From))
	}
	if c.BaseURL != "" {
		if err := absoluteURL(c.BaseURL); err != nil {
			errs = append(errs, fmt.Errorf("base URL: %w", err))
		}
	}
	if c.PublicURL == "" {
		errs = append(errs, errors.New("public URL is required: Twilio sends keypresses and delivery status to it"))
	} else if err := absoluteURL(c.PublicURL); err != nil {
		errs = append(errs, fmt.Errorf("public URL: %w", err))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("twilio: %w", errors.Join(errs...))
	}
	return nil
}

func absoluteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// Channel sends SMS and VOICE messages. It is safe for concurrent use.
type Channel struct {
	cfg     Config
	base    string // BaseURL without a trailing slash
	public  string // PublicURL without a trailing slash
	client  *http.Client
	secrets []string
}

// New returns a channel for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Channel{
		cfg:    cfg,
		base:   strings.TrimRight(base, "/"),
		public: strings.TrimRight(cfg.PublicURL, "/"),
		client: &http.Client{
			Timeout: timeout,
			// A POST that is redirected would arrive as a GET without its form; say so instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		secrets: []string{
			cfg.AuthToken,
			base64.StdEncoding.EncodeToString([]byte(cfg.AccountSID + ":" + cfg.AuthToken)),
		},
	}, nil
}

// Send texts (SMS) or calls (VOICE) m.Target. Twilio's 408, 429 and 5xx answers and network
// failures are retryable; its other answers (an invalid or unreachable number, a bad
// credential) are permanent. The auth token never appears in a returned error.
func (c *Channel) Send(ctx context.Context, m notify.Message) error {
	return notify.Redact(c.send(ctx, m), c.secrets...)
}

func (c *Channel) send(ctx context.Context, m notify.Message) error {
	if !e164.MatchString(m.Target) {
		return fmt.Errorf("twilio: message %d: %q is not a phone number in E.164 form", m.ID, m.Target)
	}
	form := url.Values{"To": {m.Target}, "From": {c.cfg.From}}
	var resource, what string
	switch m.Method {
	case notify.SMS:
		resource, what = "Messages.json", "SMS"
		form.Set("Body", SMSBody(m))
		if !m.Standalone() {
			form.Set("StatusCallback", c.callbackURL(SMSStatusPath, m))
		}
	case notify.Voice:
		resource, what = "Calls.json", "call"
		form.Set("Twiml", VoiceTwiML(m, c.callbackURL(GatherPath, m)))
		if !m.Standalone() {
			form.Set("StatusCallback", c.callbackURL(VoiceStatusPath, m))
		}
	default:
		return fmt.Errorf("twilio: message %d: method %q is neither SMS nor VOICE", m.ID, m.Method)
	}
	endpoint := c.base + "/2010-04-01/Accounts/" + url.PathEscape(c.cfg.AccountSID) + "/" + resource

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("twilio: %s for message %d: %w", what, m.ID, err)
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tocsin")

	resp, err := c.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the endpoint is known; keep what went wrong
		}
		return notify.Retryable(fmt.Errorf("twilio: %s for message %d: %w", what, m.ID, err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	text := notify.RedactString(strings.TrimSpace(string(answer)), c.secrets...)
	if err := notify.ClassifyHTTP("twilio", resp.StatusCode, text); err != nil {
		return fmt.Errorf("%s for message %d: %w", what, m.ID, err) // keeps the classification
	}
	return nil
}

// callbackURL is PublicURL + path, with the alert and message the callback is about. A
// standalone message asks for no callbacks: they name an alert, and a late status of a
// reminder has no alert timeline to be recorded on.
func (c *Channel) callbackURL(path string, m notify.Message) string {
	q := url.Values{
		"alert": {strconv.FormatInt(m.AlertID, 10)},
		"msg":   {strconv.FormatInt(m.ID, 10)},
	}
	return c.public + path + "?" + q.Encode()
}

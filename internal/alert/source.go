package alert

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// Source is an alert source (ilert's AlertSource): where events come from, which escalation
// policy their alerts follow, and the rules that shape those alerts. Fields whose behaviour
// arrives later (templates, filters, support hours) are kept as sent and returned unchanged.
type Source struct {
	ID                    int64           `json:"id"`
	Name                  string          `json:"name"`
	IconURL               string          `json:"iconUrl,omitempty"`
	LightIconURL          string          `json:"lightIconUrl,omitempty"`
	DarkIconURL           string          `json:"darkIconUrl,omitempty"`
	Teams                 []auth.TeamRef  `json:"teams"`
	EscalationPolicy      json.RawMessage `json:"escalationPolicy"` // on write only its id matters
	IntegrationType       string          `json:"integrationType"`
	IntegrationKey        string          `json:"integrationKey"`
	IntegrationURL        string          `json:"integrationUrl"`
	AutoResolutionTimeout string          `json:"autoResolutionTimeout,omitempty"`
	AlertGroupingWindow   string          `json:"alertGroupingWindow,omitempty"`
	AlertCreation         string          `json:"alertCreation"`
	Status                string          `json:"status"`
	Active                *bool           `json:"active"`
	AlertPriorityRule     string          `json:"alertPriorityRule"`
	SupportHours          json.RawMessage `json:"supportHours,omitempty"`
	Bidirectional         bool            `json:"bidirectional"`
	AutoRaiseAlerts       bool            `json:"autoRaiseAlerts"`
	ScoreThreshold        *float64        `json:"scoreThreshold,omitempty"`
	Severity              *int            `json:"severity,omitempty"`
	Services              json.RawMessage `json:"services,omitempty"`
	SetupStatus           string          `json:"setupStatus,omitempty"`
	AutoCreateServices    bool            `json:"autoCreateServices"`

	// Returned only when named in ?include=.
	SummaryTemplate        json.RawMessage `json:"summaryTemplate,omitempty"`
	DetailsTemplate        json.RawMessage `json:"detailsTemplate,omitempty"`
	RoutingTemplate        json.RawMessage `json:"routingTemplate,omitempty"`
	AlertKeyTemplate       json.RawMessage `json:"alertKeyTemplate,omitempty"`
	ServicesTemplate       json.RawMessage `json:"servicesTemplate,omitempty"`
	LinkTemplates          json.RawMessage `json:"linkTemplates,omitempty"`
	PriorityTemplate       json.RawMessage `json:"priorityTemplate,omitempty"`
	SeverityTemplate       json.RawMessage `json:"severityTemplate,omitempty"`
	TextTemplate           json.RawMessage `json:"textTemplate,omitempty"`
	EventFilter            string          `json:"eventFilter,omitempty"`
	EventTypeFilterCreate  string          `json:"eventTypeFilterCreate,omitempty"`
	EventTypeFilterAccept  string          `json:"eventTypeFilterAccept,omitempty"`
	EventTypeFilterResolve string          `json:"eventTypeFilterResolve,omitempty"`

	// Deprecated fields ilert-go still sends.
	EmailFiltered          bool            `json:"emailFiltered,omitempty"`
	EmailResolveFiltered   bool            `json:"emailResolveFiltered,omitempty"`
	EmailPredicates        json.RawMessage `json:"emailPredicates,omitempty"`
	EmailResolvePredicates json.RawMessage `json:"emailResolvePredicates,omitempty"`
	ResolveKeyExtractor    json.RawMessage `json:"resolveKeyExtractor,omitempty"`
	FilterOperator         string          `json:"filterOperator,omitempty"`
	ResolveFilterOperator  string          `json:"resolveFilterOperator,omitempty"`
	Metadata               json.RawMessage `json:"metadata,omitempty"`
	AutotaskMetadata       json.RawMessage `json:"autotaskMetadata,omitempty"`
	Heartbeat              json.RawMessage `json:"heartbeat,omitempty"`

	// Legacy spellings accepted on write and folded into the current ones by Normalize.
	IncidentCreation     string `json:"incidentCreation,omitempty"`
	IncidentPriorityRule string `json:"incidentPriorityRule,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`

	PolicyID int64 `json:"-"` // the id inside EscalationPolicy
	// RaiseAt is when the source's pending LOW alerts are next raised to HIGH by its support
	// hours (auto-raise), worked out from its rules before it is saved; nil when it does not
	// auto-raise.
	RaiseAt *time.Time `json:"-"`
	// HoursRefs are the support hours the source's rules use, found when they are compiled.
	HoursRefs []int64 `json:"-"`
}

// Alert creation modes.
const (
	OneAlertPerEmail         = "ONE_ALERT_PER_EMAIL"
	OneAlertPerEmailSubject  = "ONE_ALERT_PER_EMAIL_SUBJECT"
	OnePendingAlertAllowed   = "ONE_PENDING_ALERT_ALLOWED"
	OneOpenAlertAllowed      = "ONE_OPEN_ALERT_ALLOWED"
	OpenResolveOnExtraction  = "OPEN_RESOLVE_ON_EXTRACTION"
	OneAlertGroupedPerWindow = "ONE_ALERT_GROUPED_PER_WINDOW"
	IntelligentGrouping      = "INTELLIGENT_GROUPING"
)

// Priority rules.
const (
	RuleHigh                   = "HIGH"
	RuleLow                    = "LOW"
	RuleHighDuringSupportHours = "HIGH_DURING_SUPPORT_HOURS"
	RuleLowDuringSupportHours  = "LOW_DURING_SUPPORT_HOURS"
)

var (
	creationModes = set(OneAlertPerEmail, OneAlertPerEmailSubject, OnePendingAlertAllowed, OneOpenAlertAllowed,
		OpenResolveOnExtraction, OneAlertGroupedPerWindow, IntelligentGrouping)
	priorityRules  = set(RuleHigh, RuleLow, RuleHighDuringSupportHours, RuleLowDuringSupportHours)
	groupingWindow = set("PT2M", "PT5M", "PT15M", "PT30M", "PT1H", "PT2H", "PT4H", "PT8H", "PT12H", "PT24H")
)

// Normalize folds legacy spellings and fills ilert's defaults.
func (s *Source) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.IntegrationType = upper(s.IntegrationType)
	if s.AlertCreation == "" {
		s.AlertCreation = s.IncidentCreation
	}
	// ilert-go copies a legacy incidentCreation into alertCreation as it is, so the
	// *_INCIDENT_* names reach alertCreation too.
	s.AlertCreation = strings.ReplaceAll(upper(s.AlertCreation), "INCIDENT", "ALERT")
	if s.AlertPriorityRule == "" {
		s.AlertPriorityRule = upper(s.IncidentPriorityRule)
	}
	s.IncidentCreation, s.IncidentPriorityRule = "", ""
	if s.AlertCreation == "" {
		s.AlertCreation = OneAlertPerEmail
	}
	s.AlertPriorityRule = upper(s.AlertPriorityRule)
	if s.AlertPriorityRule == "" {
		s.AlertPriorityRule = RuleHigh
	}
	if s.Active == nil {
		t := true
		s.Active = &t
	}
	if s.Teams == nil {
		s.Teams = []auth.TeamRef{}
	}
	s.AlertGroupingWindow = upper(s.AlertGroupingWindow)
	s.AutoResolutionTimeout = upper(s.AutoResolutionTimeout)
	s.SupportHours = nullToEmpty(s.SupportHours)
	s.Services = nullToEmpty(s.Services)
	var ref struct {
		ID int64 `json:"id"`
	}
	if json.Unmarshal(s.EscalationPolicy, &ref) == nil {
		s.PolicyID = ref.ID
	}
}

// CheckNewType refuses, for a source being created, the integration types tocsin no longer
// creates: ilert's deprecated HEARTBEAT source would look like monitoring and never alert.
// Sources of that type stored before may still be changed.
func CheckNewType(integrationType string) error {
	if upper(integrationType) == "HEARTBEAT" {
		return fault.Errorf("integrationType HEARTBEAT is ilert's deprecated heartbeat source, which tocsin does not run: " +
			"create a heartbeat monitor (POST /api/heartbeat-monitors) and name the alert source its alerts go to")
	}
	return nil
}

// Validate reports the first rule the source breaks; it expects Normalize to have run.
func (s *Source) Validate() error {
	switch {
	case s.Name == "":
		return fault.Errorf("name is required")
	case len(s.Name) > 200:
		return fault.Errorf("name must be at most 200 characters")
	case s.IntegrationType == "":
		return fault.Errorf("integrationType is required")
	case !IntegrationTypes[s.IntegrationType]:
		return fault.Errorf("integrationType %q is not a known integration type", s.IntegrationType)
	case s.PolicyID <= 0:
		return fault.Errorf("escalationPolicy.id is required")
	case !creationModes[s.AlertCreation]:
		return fault.Errorf("alertCreation %q is not a known creation mode", s.AlertCreation)
	case !priorityRules[s.AlertPriorityRule]:
		return fault.Errorf("alertPriorityRule %q is not one of HIGH, LOW, HIGH_DURING_SUPPORT_HOURS, LOW_DURING_SUPPORT_HOURS", s.AlertPriorityRule)
	case s.AlertGroupingWindow != "" && !groupingWindow[s.AlertGroupingWindow]:
		return fault.Errorf("alertGroupingWindow %q is not one of PT2M, PT5M, PT15M, PT30M, PT1H, PT2H, PT4H, PT8H, PT12H, PT24H", s.AlertGroupingWindow)
	case (s.AlertCreation == OneAlertGroupedPerWindow || s.AlertCreation == IntelligentGrouping) && s.AlertGroupingWindow == "":
		return fault.Errorf("alertGroupingWindow is required for %s", s.AlertCreation)
	case s.ScoreThreshold != nil && (*s.ScoreThreshold < 0 || *s.ScoreThreshold > 1):
		return fault.Errorf("scoreThreshold must be between 0 and 1")
	case s.Severity != nil && (*s.Severity < 1 || *s.Severity > 5):
		return fault.Errorf("severity must be between 1 and 5")
	case len(s.IntegrationKey) > MaxKeyLen:
		return fault.Errorf("integrationKey must be at most %d characters", MaxKeyLen)
	case s.IntegrationKey != "" && len(s.IntegrationKey) < MinKeyLen:
		// The key alone authorises events: a chosen one must be as hard to guess as a generated one.
		return fault.Errorf("integrationKey must be at least %d characters; leave it out to have one generated", MinKeyLen)
	case s.IntegrationKey != "" && strings.Trim(s.IntegrationKey, "0123456789") == "":
		return fault.Errorf("integrationKey must not be all digits (it would read as a source id)")
	}
	if s.AutoResolutionTimeout != "" {
		if _, err := ParsePeriod(s.AutoResolutionTimeout); err != nil {
			return fault.Errorf("autoResolutionTimeout: %s", fault.MessageOf(err))
		}
	}
	return nil
}

// IsActive reports whether the source accepts events.
func (s *Source) IsActive() bool { return s.Active == nil || *s.Active }

func set(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}

func nullToEmpty(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

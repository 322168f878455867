package auth

// Permission is what an endpoint needs from the caller's role.
type Permission int

const (
	// ReadSelf: read one's own profile and keys. Every role has it, GUEST included.
	ReadSelf Permission = iota
	// Read: read alerts, sources, policies, users and teams. STAKEHOLDER and above.
	Read
	// Respond: accept, resolve, assign, comment on and open alerts. RESPONDER and above.
	Respond
	// Configure: create and change alert sources, escalation policies and teams. USER and above.
	Configure
	// Administer: manage users and other users' API keys. ADMIN only.
	Administer
)

var rank = map[Role]Permission{
	Guest:       ReadSelf,
	Stakeholder: Read,
	Responder:   Respond,
	User:        Configure,
	Admin:       Administer,
}

// Allows reports whether a role grants the permission. An unknown role grants nothing.
func (r Role) Allows(p Permission) bool {
	max, ok := rank[r]
	return ok && p <= max
}

package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// Config is the MQTT consumer's configuration, with ilagent's flags.
type Config struct {
	Host        string // -m/--mqtt_host; empty: no MQTT consumer
	Port        int    // -q/--mqtt_port
	ClientID    string // -n/--mqtt_name; also names the broker's persistent session
	Username    string
	Password    string
	TLS         bool
	CA          string // PEM file of the CA that signed the broker's certificate (default: the system's)
	ClientCert  string // PEM files of a client certificate and its key, for brokers that ask for one
	ClientKey   string
	QoS         int    // of the subscriptions: 0, 1 or 2
	Buffer      bool   // acknowledge once a message is in the agent's buffer, not once the server took it
	SharedGroup string // subscribe as $share/<group>/<topic>, so agents of one group split the messages
	Topics      mapping.Topics

	// Not flags. Zero values mean the defaults.
	KeepAlive    time.Duration    // MQTT keep-alive (10 s)
	RetryBackoff time.Duration    // the first wait before reconnecting after a failure (1 s), doubling
	MaxBackoff   time.Duration    // the longest wait (30 s)
	Now          func() time.Time // the clock of Message.At (time.Now)
}

// Flags registers the MQTT flags and the topic flags (shared with Kafka).
func (c *Config) Flags(fs *flag.FlagSet) {
	for _, n := range []string{"m", "mqtt_host"} {
		fs.StringVar(&c.Host, n, "", usage(n, "mqtt_host", "MQTT broker host; starts the MQTT consumer"))
	}
	for _, n := range []string{"q", "mqtt_port"} {
		fs.IntVar(&c.Port, n, 1883, usage(n, "mqtt_port", "MQTT broker port"))
	}
	for _, n := range []string{"n", "mqtt_name"} {
		fs.StringVar(&c.ClientID, n, "tocsin-agent", usage(n, "mqtt_name", "MQTT client id, unique per agent: the broker keeps this session's unacknowledged messages"))
	}
	fs.StringVar(&c.Username, "mqtt_username", "", "MQTT user name")
	fs.StringVar(&c.Password, "mqtt_password", "", "MQTT password")
	fs.BoolVar(&c.TLS, "mqtt_tls", false, "connect to the broker with TLS")
	fs.StringVar(&c.CA, "mqtt_ca", "", "with --mqtt_tls: PEM file of the CA of the broker's certificate (default: the system's CAs)")
	fs.StringVar(&c.ClientCert, "mqtt_client_cert", "", "with --mqtt_tls: PEM file of a client certificate (read at each connection)")
	fs.StringVar(&c.ClientKey, "mqtt_client_key", "", "with --mqtt_tls: PEM file of the client certificate's key")
	fs.IntVar(&c.QoS, "mqtt_qos", 1, "QoS of the subscriptions: 0, 1 or 2 (1 or more without --mqtt_buffer)")
	fs.BoolVar(&c.Buffer, "mqtt_buffer", false, "acknowledge messages once they are in the agent's buffer file, and deliver them from there")
	fs.StringVar(&c.SharedGroup, "mqtt_shared_group", "", "subscribe as $share/<group>/<topic>: the agents of a group share the messages")
	c.Topics.Flags(fs)
}

func usage(name, long, text string) string {
	if name != long {
		return "short for --" + long
	}
	return text
}

// Enabled reports whether the MQTT consumer is asked for (-m).
func (c Config) Enabled() bool { return c.Host != "" }

// Validate checks the configuration for meaning: the files it names are read too.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.Host == "":
		bad("--mqtt_host is required")
	case c.Port < 1 || c.Port > 65535:
		bad("--mqtt_port %d is not a port", c.Port)
	}
	if c.ClientID == "" {
		bad("--mqtt_name must not be empty")
	}
	switch {
	case c.QoS < 0 || c.QoS > 2:
		bad("--mqtt_qos must be 0, 1 or 2")
	case c.QoS == 0 && !c.Buffer:
		bad("--mqtt_qos 0 needs --mqtt_buffer: without the buffer a message is acknowledged only once the server took it, which QoS 0 cannot wait for")
	}
	if len(c.Topics.All()) == 0 {
		bad("MQTT needs at least one of -e/--event_topic, -r/--heartbeat_topic, --policy_topic (or a stream rule's topic)")
	}
	for _, t := range c.Topics.All() {
		if err := mapping.ValidFilter(t); err != nil {
			bad("%v", err)
		}
	}
	if strings.ContainsAny(c.SharedGroup, "/+#") {
		bad("--mqtt_shared_group %q must not hold /, + or #", c.SharedGroup)
	}
	if !c.TLS && (c.CA != "" || c.ClientCert != "" || c.ClientKey != "") {
		bad("--mqtt_ca, --mqtt_client_cert and --mqtt_client_key need --mqtt_tls")
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		bad("--mqtt_client_cert and --mqtt_client_key go together")
	}
	if len(errs) == 0 {
		if _, err := c.tlsConfig(); err != nil {
			bad("%v", err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	return nil
}

func (c Config) broker() string {
	scheme := "tcp"
	if c.TLS {
		scheme = "ssl"
	}
	return scheme + "://" + net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// filters are the subscriptions, shared ones when the agent is in a group.
func (c Config) filters() map[string]byte {
	out := map[string]byte{}
	for _, t := range c.Topics.All() {
		if c.SharedGroup != "" {
			t = "$share/" + c.SharedGroup + "/" + t
		}
		out[t] = byte(c.QoS)
	}
	return out
}

// tlsConfig reads the CA and the client certificate. It runs at each connection, so renewed
// certificates are used from the next reconnect on without a restart.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.Host}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("read --mqtt_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--mqtt_ca %s holds no PEM certificate", c.CA)
		}
		t.RootCAs = pool
	}
	if c.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("read --mqtt_client_cert and --mqtt_client_key: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

func (c Config) withDefaults() Config {
	if c.KeepAlive <= 0 {
		c.KeepAlive = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

package bench

import (
	"encoding/json"
	"strconv"
	"sync/atomic"
)

// Template builds Events API bodies without encoding JSON per event: fixed bytes around an
// alert key made of a prefix and a counter. It is safe for concurrent use.
type Template struct {
	head []byte // the body up to the alert key's counter, after the key prefix
	tail []byte
	keys uint64 // 0: every event has a key of its own; n: keys cycle through n values
	next atomic.Uint64
}

// NewTemplate returns ALERT events for integrationKey whose alert keys are keyPrefix followed
// by a number. With keys 0 each event has a new key, so each opens an alert; with keys n the
// events share n keys, so all but the first n are added to alerts already open.
func NewTemplate(integrationKey, keyPrefix string, keys int) *Template {
	enc := func(s string) string {
		b, _ := json.Marshal(s) // a string always encodes
		return string(b)
	}
	key := enc(keyPrefix) // `"prefix"`: the counter goes before its closing quote
	return &Template{
		head: []byte(`{"integrationKey":` + enc(integrationKey) +
			`,"eventType":"ALERT","summary":"tocsin bench event","alertKey":` + key[:len(key)-1]),
		tail: []byte(`"}`),
		keys: uint64(max(keys, 0)),
	}
}

// Size is a capacity that holds any body of the template.
func (t *Template) Size() int { return len(t.head) + 20 + len(t.tail) }

// Append appends the next event's body to dst.
func (t *Template) Append(dst []byte) []byte {
	n := t.next.Add(1) - 1
	if t.keys > 0 {
		n %= t.keys
	}
	dst = append(dst, t.head...)
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, t.tail...)
}

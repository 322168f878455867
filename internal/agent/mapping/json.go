package mapping

import (
	"bytes"
	"encoding/json"
	"strings"
)

// decodeObject decodes a payload that must be one JSON object. Numbers stay json.Number, so
// that comparing and forwarding them loses nothing.
func decodeObject(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, unmappable("the payload is not JSON: %v", err)
	}
	if dec.More() {
		return nil, unmappable("the payload holds more than one JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, unmappable("the payload is not a JSON object")
	}
	return obj, nil
}

// lookup finds the value at path: a top-level field of that exact name (ilagent's filter and
// routing-key fields are top-level names, which may hold dots), else the dot path
// ("data.email"). An empty path finds nothing.
func lookup(obj map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	if v, ok := obj[path]; ok {
		return v, true
	}
	var cur any = obj
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// lookupString is lookup for a string value; other values are not taken.
func lookupString(obj map[string]any, path string) (string, bool) {
	v, ok := lookup(obj, path)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// passes applies --filter_key/--filter_val: the field must exist and, when a value is given,
// hold it. Numbers and booleans compare by their JSON text ("42", "true"); objects, arrays and
// null never equal a value.
func passes(obj map[string]any, key, val string) bool {
	if key == "" {
		return true
	}
	v, ok := lookup(obj, key)
	if !ok {
		return false
	}
	if val == "" {
		return true
	}
	switch v := v.(type) {
	case string:
		return v == val
	case json.Number:
		return v.String() == val
	case bool:
		return (v && val == "true") || (!v && val == "false")
	}
	return false
}

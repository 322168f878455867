package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/fault"
)

// maxBody is the largest request body tocsin reads (512 KiB); larger bodies get 413.
const maxBody = 512 << 10

// errorBody is ilert's error envelope.
type errorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// statusOf maps an application error code to its HTTP status.
func statusOf(code fault.Code) int {
	switch code {
	case fault.Invalid, fault.Conflict:
		// Conflicts are permanent (a taken email or key): ilert's clients retry a 409, so
		// tocsin answers 400 and says CONFLICT in the envelope's code.
		return http.StatusBadRequest
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.NotFound:
		return http.StatusNotFound
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.RateLimited:
		return http.StatusTooManyRequests
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers with the error envelope. Internal errors are logged with their cause and
// shown to the caller only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		// The client went away; nobody reads the answer. An event it sent may still commit.
		s.log.DebugContext(r.Context(), "client gone before the answer", "method", r.Method, "pattern", r.Pattern)
		return
	}
	code := fault.CodeOf(err)
	status := statusOf(code)
	var refused interface{ RetryAfter() time.Duration }
	if errors.As(err, &refused) {
		// Turned away by a limit (see signin_limit.go): no fault of tocsin's, nothing to log.
		w.Header().Set("Retry-After", strconv.Itoa(int(refused.RetryAfter().Seconds())))
	} else if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "pattern", r.Pattern, "err", err)
	}
	if code == fault.Unauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin"`)
	}
	writeJSON(w, status, errorBody{Status: status, Message: fault.MessageOf(err), Code: string(code)})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Error("encode response", "err", err)
		http.Error(w, `{"status":500,"message":"internal error","code":"INTERNAL_ERROR"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// readBody reads the whole request body up to maxBody; a longer body is a TooLarge error.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fault.New(fault.TooLarge, "the body is larger than %d KiB", maxBody>>10)
	}
	if err != nil {
		return nil, fault.Errorf("reading the body: %v", err)
	}
	if !utf8.Valid(body) {
		return nil, fault.Errorf("the body is not valid UTF-8")
	}
	if hasNUL(body) {
		return nil, fault.Errorf("the body contains a NUL character (\\u0000), which text fields may not hold")
	}
	return body, nil
}

// hasNUL reports whether a JSON text holds the escape \u0000 (a raw NUL byte is not valid
// JSON). PostgreSQL cannot store NUL in text, and no field of tocsin's has a use for it.
func hasNUL(body []byte) bool {
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte(`u0000`))
		if j < 0 {
			return false
		}
		j += i
		slashes := 0
		for k := j - 1; k >= 0 && body[k] == '\\'; k-- {
			slashes++
		}
		if slashes%2 == 1 { // an escaping backslash, not an escaped one
			return true
		}
		i = j + 1
	}
}

// decodeJSON reads the body into v. Unknown fields are ignored, as ilert clients send fields
// of newer API versions; wrong types, malformed JSON and trailing data are errors.
func decodeJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fault.FromJSON("invalid body", err)
	}
	if dec.More() {
		return fault.Errorf("invalid body: it must hold a single JSON value")
	}
	return nil
}

// pathID parses the {name} path value as a positive id.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.Errorf("%s %q is not a valid id", name, v)
	}
	return id, nil
}

// page reads ilert's start-index and max-results, with the resource's default and maximum.
func page(r *http.Request, def, max int) (start, limit int, err error) {
	q := r.URL.Query()
	start, limit = 0, def
	if v := q.Get("start-index"); v != "" {
		if start, err = strconv.Atoi(v); err != nil || start < 0 {
			return 0, 0, fault.Errorf("start-index must be a number of 0 or more")
		}
	}
	if v := q.Get("max-results"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return 0, 0, fault.Errorf("max-results must be a number of 1 or more")
		}
		if limit > max {
			return 0, 0, fault.Errorf("max-results must be at most %d", max)
		}
	}
	return start, limit, nil
}

// includes returns the set of include= values, repeated or comma-separated.
func includes(r *http.Request) map[string]bool {
	out := map[string]bool{}
	for _, v := range r.URL.Query()["include"] {
		for part := range strings.SplitSeq(v, ",") {
			out[strings.TrimSpace(part)] = true
		}
	}
	return out
}

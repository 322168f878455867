package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/internal/fault"
)

func TestCodeOf(t *testing.T) {
	if got := fault.CodeOf(nil); got != "" {
		t.Fatalf("CodeOf(nil) = %q, want none: a nil error is not an internal one", got)
	}
	if got := fault.CodeOf(errors.New("boom")); got != fault.Internal {
		t.Fatalf("a plain error: %q", got)
	}
	wrapped := fmt.Errorf("context: %w", fault.NotFoundf("alert %d does not exist", 3))
	if !fault.Is(wrapped, fault.NotFound) || fault.MessageOf(wrapped) != "alert 3 does not exist" {
		t.Fatalf("wrapped: %v", wrapped)
	}
	if fault.MessageOf(errors.New("db password is hunter2")) != "internal error" {
		t.Fatal("an internal error's text must not reach the caller")
	}
}

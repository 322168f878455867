package cli

import (
	"errors"
	"io"
)

// bench runs the load generator; see internal/bench.
func bench(args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not built yet")
}

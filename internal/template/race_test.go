//go:build race

package template

import "time"

// The race detector makes rendering many times slower.
func init() { renderBound = 10 * time.Second }

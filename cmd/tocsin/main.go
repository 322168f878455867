// Command tocsin is the tocsin server and its tools.
package main

import (
	"os"

	"github.com/tocsinhq/tocsin/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

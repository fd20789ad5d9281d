// Command configdoc writes docs/configuration.md from the code.
//
//	configdoc [-root ../..] [-o file]   (stdout without -o)
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/outpost-go/outposts/tools/shipcheck"
)

func main() {
	root := flag.String("root", "../..", "repository root")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	doc, err := shipcheck.ConfigReference(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, _ = os.Stdout.WriteString(doc)
		return
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

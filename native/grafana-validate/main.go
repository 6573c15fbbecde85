// grafana-validate: check Grafana dashboard JSON files against Grafana's dashboard schema, offline.
//
// The schema is the one Grafana's own kinds define, as code generated from them by the Grafana Foundation SDK
// (github.com/grafana/grafana-foundation-sdk/go, Apache-2.0): a strict decode rejects unknown keys, wrong
// types and missing required fields, in the dashboard and in each panel's options and field config (the
// panel plugins' own schemas); Validate() then checks the values (ranges, enumerations).
//
// Usage: grafana-validate FILE.json...   Exit 0 when every file is valid, 1 with one line per problem.
package main

import (
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grafana-validate FILE.json...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()
	failed := false
	for _, path := range os.Args[1:] {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		var board dashboard.Dashboard
		if err := board.UnmarshalJSONStrict(raw); problem(err) {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		if err := board.Validate(); problem(err) {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid (%d panels)\n", path, len(board.Panels))
	}
	if failed {
		os.Exit(1)
	}
}

// problem: whether err reports anything (the SDK returns an empty cog.BuildErrors, not nil, when all is well)
func problem(err error) bool {
	if errs, ok := err.(cog.BuildErrors); ok {
		return len(errs) > 0
	}
	return err != nil
}

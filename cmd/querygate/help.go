package main

import (
	"fmt"
	"io"
)

// helps are the --help texts of the commands whose flags are parsed
// further down (policy, deid, workflows, audit).
var helps = map[string]string{
	"policy": `usage: querygate policy check --sql SQL [--groups g] [--email E] [--policy FILE] [--json]
       querygate policy test FILE [--policy FILE]
       querygate policy classify TABLE

check evaluates SQL against a policy (the built-in default unless --policy)
over the demo schema, or a running gateway's with --bigquery-endpoint; test
runs a policy test table. Exit codes: 0 ok, 1 a test failed, 2 usage.

examples:
  querygate policy check --sql 'SELECT email FROM demo.customers' --groups analysts
  querygate policy test policy_test.yaml --policy policy.yaml
`,
	"deid": `usage: querygate deid [--masking FILE] < rows.jsonl

De-identifies JSON Lines rows from stdin with the masking config (DLP
DeidentifyConfig semantics) and prints them. Exit codes: 0 ok, 1 failed, 2 usage.

example:
  echo '{"email": "a@example.com"}' | querygate deid
`,
	"workflows": `usage: querygate workflows validate FILE

Checks a workflow file against the subset the local runtime interprets.
Exit codes: 0 ok, 1 problems found (printed with their lines), 2 usage.

example:
  querygate workflows validate workflows/query_session.yaml
`,
	"audit": `usage: querygate audit verify [--data-dir DIR] [--bigquery-endpoint URL] [--project P] [--dataset D] [--table T]

Recomputes the hash chains of the audit table and reports any break.
Exit codes: 0 intact, 1 broken or unreadable, 2 usage.

examples:
  querygate audit verify --data-dir .querygate
  querygate audit verify --bigquery-endpoint "" --project my-project --dataset querygate_audit
`,
}

// wantsHelp reports whether args ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// printHelp prints cmd's help text when it has one in helps.
func printHelp(cmd string, w io.Writer) bool {
	h, ok := helps[cmd]
	if ok {
		fmt.Fprint(w, h)
	}
	return ok
}

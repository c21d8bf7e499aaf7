package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Mistakes in the command line or its files exit 2 with a message naming
// the mistake, and create nothing.
func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	e.labBlocks()
	kinds := []string{"project", "department", "environment", "compute", "datasource", "credential", "template"}
	before := map[string][]string{}
	for _, k := range kinds {
		before[k] = e.names(k, "list")
	}
	ws := []string{"ws", "create", "x", "-p", "lab", "--environment", "python-http", "--compute", "tiny"}
	with := func(extra ...string) []string { return append(append([]string{}, ws...), extra...) }
	cases := []struct {
		args  []string
		stdin string
		want  []string
		help  bool // the group's help is printed too
	}{
		// flags
		{args: []string{"ws", "list", "--bogus"}, want: []string{"unknown flag: --bogus"}},
		{args: with("--bogus"), want: []string{"unknown flag: --bogus"}},
		{args: []string{"whoami", "-x"}, want: []string{"unknown shorthand flag: 'x'"}},
		{args: []string{"ws", "list", "--phase"}, want: []string{"flag needs an argument: --phase"}},
		{args: with("--gpu", "two"), want: []string{`invalid argument "two" for "--gpu"`}},
		{args: with("--gpu", "-3"), want: []string{"--gpu must be 0 or more"}},
		{args: with("--env", "NOEQUALS"), want: []string{`--env takes KEY=VALUE (got "NOEQUALS")`}},
		{args: with("--env", "=value"), want: []string{`--env takes KEY=VALUE (got "=value")`}},
		{args: with("--env", "bad-name=1"), want: []string{"env.bad-name", "variable name"}},
		// output formats
		{args: []string{"ws", "list", "-o", "xml"}, want: []string{`--output must be one of table, wide, json, yaml (got "xml")`}},
		{args: []string{"ws", "describe", "x", "-p", "lab", "-o", "xml"}, want: []string{"--output must be one of"}},
		{args: with("-o", "xml"), want: []string{"--output must be one of"}},
		{args: []string{"whoami", "-o", "xml"}, want: []string{"--output must be one of"}},
		{args: []string{"environment", "list", "-o", "xml"}, want: []string{"--output must be one of"}},
		{args: []string{"compute", "describe", "tiny", "-o", "xml"}, want: []string{"--output must be one of"}},
		// arguments and commands
		{args: []string{"ws", "describe", "-p", "lab"}, want: []string{"labspace workspace describe takes 1 argument(s), got 0"}},
		{args: []string{"ws", "open", "x", "-p", "lab"}, want: []string{"takes 2 argument(s), got 1"}},
		{args: []string{"ws", "stop", "a", "b", "-p", "lab"}, want: []string{"takes 1 argument(s), got 2"}},
		{args: []string{"login"}, want: []string{"labspace login takes 1 argument(s), got 0"}},
		{args: []string{"environment", "delete"}, want: []string{"takes 1 argument(s), got 0"}},
		{args: []string{"environment", "list", "extra"}, want: []string{"takes 0 argument(s), got 1"}},
		{args: with("y"), want: []string{"takes at most 1 argument, got 2"}},
		{args: []string{"ws", "create", "-p", "lab", "--environment", "python-http", "--compute", "tiny"}, want: []string{"give the workspace a name"}},
		{args: []string{"ws", "describe", "x"}, want: []string{"give a project with -p/--project"}},
		{args: []string{"ws", "wait", "x", "-p", "lab", "--for=Running"}, want: []string{"--for takes phase=<Phase>"}},
		{args: []string{"ws", "wait", "x", "-p", "lab", "--for=phase=running"}, want: []string{`unknown phase "running"`, "Running"}},
		{args: []string{"bogus"}, want: []string{`unknown command "bogus" for "labspace"`}},
		{args: []string{"ws", "bogus"}, want: []string{`unknown command "bogus" for "labspace workspace"`}},
		{args: []string{"ws"}, want: []string{"labspace workspace needs a subcommand"}, help: true},
		{args: []string{"environment"}, want: []string{"labspace environment needs a subcommand"}, help: true},
		{args: []string{"login", e.url, "--password-stdin"}, stdin: adminPassword + "\n", want: []string{"--password-stdin needs --username"}},
		// files
		{args: []string{"ws", "create", "-p", "lab", "-f", "testdata/workspace-unknown-field.yaml"}, want: []string{"testdata/workspace-unknown-field.yaml", `unknown field "enviroment"`}},
		{args: []string{"ws", "create", "-p", "lab", "-f", "testdata/no-such-file.yaml"}, want: []string{"testdata/no-such-file.yaml", "no such file"}},
		{args: []string{"ws", "create", "-p", "lab", "-f", "-"}, stdin: "name: [", want: []string{"-: "}},
		{args: []string{"environment", "create", "-f", "testdata/environment-unknown-field.yaml"}, want: []string{`unknown field "comand"`}},
		{args: []string{"environment", "create", "-f", "testdata/no-such-file.yaml"}, want: []string{"no such file"}},
		{args: []string{"environment", "create"}, want: []string{"give the file with -f"}},
		{args: []string{"compute", "create", "-f", "-"}, stdin: "meta: {name: huge, scope: {type: global}}\nspec: {cpuRequest: lots}\n", want: []string{"spec.cpuRequest"}},
		{args: []string{"project", "create", "-f", "-"}, stdin: "meta: {name: Bad_Name, scope: {type: global}}\n", want: []string{"meta.name", "DNS label"}},
		// the API's validation names the field at fault
		{args: with("--gpu", "2000"), want: []string{"gpuDevices", "between 0 and 1024"}},
		{args: []string{"ws", "create", "Bad_Name", "-p", "lab", "--environment", "python-http", "--compute", "tiny"}, want: []string{"name:", `"Bad_Name"`}},
		{args: []string{"ws", "create", "x", "-p", "lab", "--environment", "python-http"}, want: []string{"template:", "compute resource"}},
		{args: with("--data-source", ":/mnt"), want: []string{"dataSources[0].name", "is required"}},
		{args: []string{"ws", "list", "--phase", "Bogus"}, want: []string{"phase:"}},
	}
	for _, c := range cases {
		r := e.failsIn(c.stdin, exitUsage, c.want, c.args...)
		if c.help != strings.Contains(r.stdout, "Usage:") || !c.help && r.stdout != "" {
			t.Errorf("stdout:\n%s", r)
		}
	}

	// Well-formed requests the server cannot carry out exit 1 and name
	// the field at fault too.
	e.fails(exitError, []string{"environment:", `no environment "nope"`, `dataSources[0].name: no data source "gone"`},
		"ws", "create", "x", "-p", "lab", "--environment", "nope", "--compute", "tiny", "--data-source", "gone")
	e.fails(exitError, []string{`Project "nope" not found`}, "ws", "create", "x", "-p", "nope", "--environment", "python-http", "--compute", "tiny")

	if got := e.names("ws", "list"); len(got) != 0 {
		t.Errorf("workspaces created by failed commands: %v", got)
	}
	for _, k := range kinds {
		if got := e.names(k, "list"); strings.Join(got, ",") != strings.Join(before[k], ",") {
			t.Errorf("%s list changed by failed commands: %v, was %v", k, got, before[k])
		}
	}
}

// Every command has --help; every command that does something shows
// examples of it.
func TestHelp(t *testing.T) {
	t.Setenv("LABSPACE_CONFIG", t.TempDir()+"/config.json")
	top := root()
	top.InitDefaultHelpCmd()
	top.InitDefaultCompletionCmd()
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(top)
	leaves := 0
	for _, c := range all {
		path := strings.Fields(c.CommandPath())[1:]
		r := runCLI(t, "", append(path, "--help")...)
		about := c.Long
		if about == "" {
			about = c.Short
		}
		if r.code != exitOK || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, about) {
			t.Errorf("--help:\n%s", r)
			continue
		}
		generated := len(path) > 0 && (path[0] == "help" || path[0] == "completion")
		if c.HasSubCommands() || generated {
			continue
		}
		leaves++
		_, examples, ok := strings.Cut(r.stdout, "\nExamples:\n")
		examples, _, _ = strings.Cut(examples, "\n\n")
		if !ok || !strings.Contains(examples, "labspace ") || !strings.Contains(examples, " "+c.Name()) {
			t.Errorf("labspace %s --help shows no example of it:\n%s", strings.Join(path, " "), r)
		}
	}
	if leaves < 30 {
		t.Errorf("only %d commands checked", leaves)
	}

	// help, bare labspace, completion.
	if r := runCLI(t, "", "help", "ws", "create"); r.code != exitOK || !strings.Contains(r.stdout, "--environment") {
		t.Errorf("help ws create:\n%s", r)
	}
	if r := runCLI(t, ""); r.code != exitOK || !strings.Contains(r.stdout, "Available Commands:") {
		t.Errorf("labspace:\n%s", r)
	}
	if r := runCLI(t, "", "completion", "bash"); r.code != exitOK || !strings.Contains(r.stdout, "# bash completion") ||
		!strings.Contains(r.stdout, "__start_labspace") {
		t.Errorf("completion bash: exit %d, %d bytes: %.300s", r.code, len(r.stdout), r.stdout)
	}
	if r := runCLI(t, "", "completion", "zsh"); r.code != exitOK || !strings.Contains(r.stdout, "#compdef labspace") {
		t.Errorf("completion zsh: exit %d: %.300s", r.code, r.stdout)
	}
	if r := runCLI(t, "", "__complete", "ws", "list", "-o", ""); r.code != exitOK ||
		!strings.HasPrefix(r.stdout, "table\nwide\njson\nyaml\n") {
		t.Errorf("completing -o:\n%s", r)
	}
}

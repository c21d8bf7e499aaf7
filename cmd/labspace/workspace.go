package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

func workspaceCmd() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:     "workspace",
		Aliases: []string{"ws"},
		Short:   "Create, run and connect to workspaces",
		Example: `  labspace ws list
  labspace ws create exp1 -p vision --environment jupyter --compute cpu-small
  labspace ws wait exp1 -p vision --for=phase=Running
  labspace ws open exp1 jupyter -p vision`,
	}
	cmd.PersistentFlags().StringVarP(&project, "project", "p", "", "project (default: the one set with \"labspace ws use\")")
	proj := func() (string, error) {
		if project != "" {
			return project, nil
		}
		cfg, err := loadConfig()
		if err == nil && cfg.Project != "" {
			return cfg.Project, nil
		}
		return "", usageErr("give a project with -p/--project (or set a default: labspace ws use <project>)")
	}
	groupCmd(cmd)
	cmd.AddCommand(wsListCmd(&project), wsCreateCmd(proj), wsDescribeCmd(proj), wsWaitCmd(proj), wsLogsCmd(proj),
		wsOpenCmd(proj), wsUseCmd())
	for _, action := range []string{"start", "stop", "delete"} {
		cmd.AddCommand(wsActionCmd(action, proj))
	}
	return cmd
}

func wsListCmd(project *string) *cobra.Command {
	var out, phase, search string
	var filters []string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List workspaces: of the project (-p, or the default one), or of every project you can see (-A)",
		Example: "  labspace ws list -A\n  labspace ws list -p vision --phase Running -o wide\n" +
			"  labspace ws list -A --filter name=@bert --filter phase!=Stopped,creator==alice",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			p := *project
			if cfg, err := loadConfig(); err == nil && p == "" && !all {
				p = cfg.Project // the default project; none set: every project
			}
			if all && *project != "" {
				return usageErr("give -p or -A, not both")
			}
			list, err := c.Workspaces(cmd.Context(), client.ListOptions{Project: p, Phase: phase, Search: search, SortBy: "name", FilterBy: filters})
			if err != nil {
				return err
			}
			if out == "json" || out == "yaml" {
				return printData(cmd.OutOrStdout(), out, map[string]any{"items": list})
			}
			return printWorkspaces(cmd.OutOrStdout(), list, out == "wide")
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().BoolVarP(&all, "all-projects", "A", false, "every project you can see, not just the default one")
	cmd.Flags().StringVar(&phase, "phase", "", "only workspaces in this phase")
	cmd.Flags().StringVar(&search, "search", "", "only names containing this")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "only workspaces meeting a condition on name, phase, creator or environment: "+
		"field, operator (== != =@ contains !@ =^ starts =$ ends), value; repeat or separate with commas, all must hold")
	return cmd
}

func printWorkspaces(w io.Writer, list []labspace.Workspace, wide bool) error {
	header := []string{"PROJECT", "NAME", "PHASE", "REASON", "ENVIRONMENT", "GPUS", "AGE"}
	if wide {
		header = append(header, "COMPUTE", "CREATED BY", "TOOLS", "MESSAGE")
	}
	var rows [][]string
	for _, ws := range list {
		r := []string{ws.Project(), ws.Name, string(ws.Status.Phase), short(ws.Status.PhaseReason, 24),
			ws.Spec.Environment.From.Name, fmt.Sprint(ws.Spec.Compute.Spec.GPUs()), age(ws.CreatedAt)}
		if wide {
			var tools []string
			for _, t := range ws.Status.Tools {
				tools = append(tools, t.Name)
			}
			r = append(r, ws.Spec.Compute.From.Name, ws.CreatedBy, short(strings.Join(tools, ","), 30), short(ws.Status.PhaseMessage, 60))
		}
		rows = append(rows, r)
	}
	return printTable(w, header, rows)
}

func wsCreateCmd(proj func() (string, error)) *cobra.Command {
	var req labspace.WorkspaceCreate
	var file, out string
	var env, data []string
	var gpus int
	var stopped, preemptible bool
	cmd := &cobra.Command{
		Use:   "create <name>",
		Short: "Create a workspace from a template or from building blocks, and start it",
		Example: `  labspace ws create exp1 -p vision --template train
  labspace ws create exp2 -p vision --environment jupyter --compute gpu-1 --env WANDB_KEY=abc --data-source datasets:/data
  labspace ws create -p vision -f workspace.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("%s takes at most 1 argument, got %d (see --help)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			p, err := proj()
			if err != nil {
				return err
			}
			if file != "" {
				if err := readFile(cmd, file, &req); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				req.Name = args[0]
			}
			if req.Name == "" {
				return usageErr("give the workspace a name")
			}
			if err := applyCreateFlags(cmd, &req, env, data, gpus, stopped); err != nil {
				return err
			}
			if cmd.Flags().Changed("preemptible") {
				req.Preemptible = &preemptible
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ws, err := c.CreateWorkspace(cmd.Context(), p, &req)
			if err != nil {
				return err
			}
			return printOne(cmd, out, ws, fmt.Sprintf("Workspace %s/%s created (%s).", p, ws.Name, ws.Status.Phase))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "read the request from a YAML or JSON file (- for standard input)")
	f.StringVar(&req.Template, "template", "", "template to start from")
	f.StringVar(&req.Environment, "environment", "", "environment (name or id)")
	f.StringVar(&req.Compute, "compute", "", "compute resource (name or id)")
	f.StringArrayVar(&data, "data-source", nil, "data source, optionally with a mount path: NAME[:/mount/path] (repeatable)")
	f.StringArrayVar(&env, "env", nil, "environment variable value: KEY=VALUE (repeatable)")
	f.StringArrayVar(&req.Args, "arg", nil, "argument replacing the environment's (repeatable)")
	f.IntVar(&gpus, "gpu", -1, "number of GPUs, replacing the compute resource's (-1: keep it)")
	f.BoolVar(&stopped, "stopped", false, "create it without starting it")
	f.StringVar(&req.NodePool, "node-pool", "", "node pool to run in (Kubernetes: nodes labelled labspace.dev/node-pool)")
	f.BoolVar(&preemptible, "preemptible", false, "may use idle capacity beyond the project's quota, and be stopped when it is needed back")
	addOutputFlag(cmd, &out)
	return cmd
}

// applyCreateFlags adds the flags' values to a create request.
func applyCreateFlags(cmd *cobra.Command, req *labspace.WorkspaceCreate, env, data []string, gpus int, stopped bool) error {
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("--env takes KEY=VALUE (got %q)", kv)
		}
		if req.Env == nil {
			req.Env = map[string]string{}
		}
		req.Env[k] = v
	}
	for _, d := range data {
		name, mount, _ := strings.Cut(d, ":")
		req.DataSources = append(req.DataSources, labspace.DataSourceUse{Name: name, MountPath: mount})
	}
	if cmd.Flags().Changed("gpu") {
		if gpus < 0 {
			return usageErr("--gpu must be 0 or more")
		}
		req.GPUDevices = &gpus
	}
	if stopped {
		req.DesiredPhase = labspace.PhaseStopped
	}
	return nil
}

// readFile decodes a YAML or JSON file (strictly: unknown fields are errors).
func readFile(cmd *cobra.Command, path string, into any) error {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(cmd.InOrStdin())
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return usageErr("%v", err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		return usageErr("%s: %v", path, err)
	}
	return nil
}

func printOne(cmd *cobra.Command, out string, v any, summary string) error {
	if out == "json" || out == "yaml" {
		return printData(cmd.OutOrStdout(), out, v)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), summary)
	return err
}

func wsActionCmd(action string, proj func() (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:     action + " <name>",
		Short:   strings.ToUpper(action[:1]) + action[1:] + " a workspace (the server carries it out; see `ws wait`)",
		Example: fmt.Sprintf("  labspace ws %s exp1 -p vision", action),
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := inProject(proj)
			if err != nil {
				return err
			}
			ws, err := c.SetDesired(cmd.Context(), p, args[0], action)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Workspace %s/%s: %s requested (now %s).\n", p, ws.Name, action, ws.Status.Phase)
			return nil
		},
	}
}

func wsDescribeCmd(proj func() (string, error)) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "describe <name>",
		Short:   "Show a workspace: phase, tools, resolved spec and events",
		Example: "  labspace ws describe exp1 -p vision\n  labspace ws describe exp1 -p vision -o yaml",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			p, c, err := inProject(proj)
			if err != nil {
				return err
			}
			ws, err := c.Workspace(cmd.Context(), p, args[0])
			if err != nil {
				return err
			}
			if out == "json" || out == "yaml" {
				return printData(cmd.OutOrStdout(), out, ws)
			}
			events, err := c.Events(cmd.Context(), p, args[0])
			if err != nil {
				return err
			}
			return describeWorkspace(cmd.OutOrStdout(), ws, events)
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func describeWorkspace(w io.Writer, ws *labspace.Workspace, events []labspace.Event) error {
	s := ws.Spec
	fmt.Fprintf(w, "Name:         %s\nProject:      %s\nCreated by:   %s, %s ago\n", ws.Name, ws.Project(), ws.CreatedBy, age(ws.CreatedAt))
	fmt.Fprintf(w, "Desired:      %s\nPhase:        %s\n", ws.DesiredPhase, ws.Status.Phase)
	if ws.Status.PhaseReason != "" {
		fmt.Fprintf(w, "Reason:       %s\nMessage:      %s\n", ws.Status.PhaseReason, ws.Status.PhaseMessage)
	}
	fmt.Fprintf(w, "Environment:  %s (%s)\nCompute:      %s (%g GPUs, cpu %s, memory %s)\n", s.Environment.From.Name,
		s.Environment.Spec.Image, s.Compute.From.Name, s.Compute.Spec.GPUs(), dash(s.Compute.Spec.CPURequest), dash(s.Compute.Spec.MemoryRequest))
	for _, t := range ws.Status.Tools {
		fmt.Fprintf(w, "Tool:         %s %s (ready: %v)\n", t.Name, t.URL, t.Ready)
	}
	fmt.Fprintln(w, "Events:")
	rows := [][]string{}
	for _, e := range events {
		rows = append(rows, []string{e.Time.Local().Format(time.DateTime), e.Type, string(e.FromPhase) + "→" + string(e.ToPhase), dash(e.Reason), e.Actor})
	}
	return printTable(w, []string{"  TIME", "TYPE", "PHASE", "REASON", "BY"}, indent(rows))
}

func indent(rows [][]string) [][]string {
	for _, r := range rows {
		r[0] = "  " + r[0]
	}
	return rows
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func wsWaitCmd(proj func() (string, error)) *cobra.Command {
	var forCond string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "wait <name>",
		Short:   "Wait until a workspace reaches a phase; fail with the reason if it fails",
		Example: "  labspace ws wait exp1 -p vision --for=phase=Running --timeout 5m",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			phase, ok := strings.CutPrefix(forCond, "phase=")
			if !ok || phase == "" {
				return usageErr("--for takes phase=<Phase>, such as phase=Running (got %q)", forCond)
			}
			if !knownPhase(phase) {
				// A misspelt phase would never come: refuse it rather than wait out --timeout.
				return usageErr("--for: unknown phase %q; phases are %s", phase, phaseNames())
			}
			p, c, err := inProject(proj)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			ws, err := c.WaitPhase(ctx, p, args[0], labspace.Phase(phase), 200*time.Millisecond)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Workspace %s/%s is %s.\n", p, ws.Name, ws.Status.Phase)
			return nil
		},
	}
	cmd.Flags().StringVar(&forCond, "for", "phase=Running", "condition to wait for: phase=<Phase>")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	return cmd
}

func wsLogsCmd(proj func() (string, error)) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:     "logs <name>",
		Short:   "Print a workspace's output",
		Example: "  labspace ws logs exp1 -p vision\n  labspace ws logs exp1 -p vision -f",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := inProject(proj)
			if err != nil {
				return err
			}
			rc, err := c.Logs(cmd.Context(), p, args[0], follow)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(cmd.OutOrStdout(), rc)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	return cmd
}

func wsOpenCmd(proj func() (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "open <name> <tool>",
		Short:   "Print the URL of a workspace's tool (to open in a browser)",
		Example: "  labspace ws open exp1 jupyter -p vision\n  xdg-open \"$(labspace ws open exp1 jupyter -p vision)\"",
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, c, err := inProject(proj)
			if err != nil {
				return err
			}
			ws, err := c.Workspace(cmd.Context(), p, args[0])
			if err != nil {
				return err
			}
			var names []string
			for _, t := range ws.Status.Tools {
				if t.Name == args[1] {
					if !t.Ready {
						return fmt.Errorf("tool %s is not ready: the workspace is %s", t.Name, ws.Status.Phase)
					}
					fmt.Fprintln(cmd.OutOrStdout(), t.URL)
					return nil
				}
				names = append(names, t.Name)
			}
			return fmt.Errorf("workspace %s has no tool %q (it has: %s)", ws.Name, args[1], strings.Join(names, ", "))
		},
	}
}

func wsUseCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "use <project>",
		Short:   "Set the default project of workspace commands",
		Example: "  labspace ws use vision",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			cfg.Project = args[0]
			if err := cfg.save(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Default project: %s.\n", args[0])
			return nil
		},
	}
}

func knownPhase(p string) bool {
	for _, ph := range labspace.Phases {
		if string(ph) == p {
			return true
		}
	}
	return false
}

func phaseNames() string {
	s := make([]string, len(labspace.Phases))
	for i, p := range labspace.Phases {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// inProject returns the project a workspace command acts in and a client
// of the signed-in server.
func inProject(proj func() (string, error)) (string, *client.Client, error) {
	p, err := proj()
	if err != nil {
		return "", nil, err
	}
	c, _, err := apiClient()
	return p, c, err
}

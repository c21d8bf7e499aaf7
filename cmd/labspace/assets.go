package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/client"
	"github.com/spf13/cobra"
)

// assetKind is a kind the CLI manages with list, describe, create -f, delete.
type assetKind struct {
	use, plural string // command and its plural, for help
	kind        labspace.Kind
	path        string // under /api/v1
	byName      bool   // the API names it by name (else by id)
	yamlKind    string // "kind:" in files for `labspace apply`
}

var assetKinds = []assetKind{
	{"project", "projects", labspace.KindProject, "projects", true, "Project"},
	{"department", "departments", labspace.KindDepartment, "departments", true, "Department"},
	{"environment", "environments", labspace.KindEnvironment, "environments", false, "Environment"},
	{"compute", "compute resources", labspace.KindComputeResource, "compute-resources", false, "ComputeResource"},
	{"datasource", "data sources", labspace.KindDataSource, "data-sources", false, "DataSource"},
	{"credential", "credentials", labspace.KindCredential, "credentials", false, "Credential"},
	{"template", "templates", labspace.KindTemplate, "templates", false, "Template"},
}

func assetCmd(k assetKind) *cobra.Command {
	var scope string
	cmd := &cobra.Command{
		Use:   k.use,
		Short: "Manage " + k.plural,
		Example: fmt.Sprintf("  labspace %s list\n  labspace %s describe NAME -o yaml\n  labspace %s create -f %s.yaml\n  labspace %s delete NAME",
			k.use, k.use, k.use, k.use, k.use),
	}
	if !k.byName {
		cmd.PersistentFlags().StringVar(&scope, "scope", "", "where the object lives: global, department/NAME or project/NAME (to tell apart equal names)")
	}
	groupCmd(cmd)
	cmd.AddCommand(assetListCmd(k, &scope), assetDescribeCmd(k, &scope), assetCreateCmd(k), assetDeleteCmd(k, &scope))
	return cmd
}

func assetListCmd(k assetKind, scope *string) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the " + k.plural + " you can see",
		Example: fmt.Sprintf("  labspace %s list -o wide", k.use),
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			items, err := client.ListAll[map[string]any](cmd.Context(), c, "/api/v1/"+k.path, client.ListOptions{Scope: *scope})
			if err != nil {
				return err
			}
			if out == "json" || out == "yaml" {
				return printData(cmd.OutOrStdout(), out, map[string]any{"items": items})
			}
			header := []string{"NAME", "SCOPE", "AGE"}
			if out == "wide" {
				header = append(header, "ID", "DESCRIPTION")
			}
			var rows [][]string
			for _, it := range items {
				m := metaOf(it)
				r := []string{m.Name, m.Scope.String(), age(m.CreatedAt)}
				if out == "wide" {
					r = append(r, m.ID, short(m.Description, 50))
				}
				rows = append(rows, r)
			}
			return printTable(cmd.OutOrStdout(), header, rows)
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

// metaOf reads the meta of an object decoded as a map.
func metaOf(obj map[string]any) labspace.Meta {
	var m labspace.Meta
	raw, _ := jsonMarshal(obj["meta"])
	_ = jsonUnmarshal(raw, &m)
	return m
}

// key returns what the API names an object by: its name, or the id of the
// one object of that name (in scope, when given) the caller can see.
func key(ctx context.Context, c *client.Client, k assetKind, name, scope string) (string, error) {
	if k.byName {
		return url.PathEscape(name), nil
	}
	items, err := client.ListAll[map[string]any](ctx, c, "/api/v1/"+k.path, client.ListOptions{Search: name, Scope: scope})
	if err != nil {
		return "", err
	}
	var ids, where []string
	for _, it := range items {
		if m := metaOf(it); m.Name == name || m.ID == name {
			ids, where = append(ids, m.ID), append(where, m.Scope.String())
		}
	}
	switch len(ids) {
	case 0:
		// The search matches names only: name may still be an id.
		if c.Do(ctx, "GET", "/api/v1/"+k.path+"/"+url.PathEscape(name), nil, nil) == nil {
			return url.PathEscape(name), nil
		}
		return "", fmt.Errorf("no %s named %q", k.use, name)
	case 1:
		return ids[0], nil
	}
	return "", usageErr("%d %s objects are named %q (in %s): choose one with --scope", len(ids), k.use, name, strings.Join(where, ", "))
}

func assetDescribeCmd(k assetKind, scope *string) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "describe <name>",
		Short:   "Show one " + k.use,
		Example: fmt.Sprintf("  labspace %s describe NAME\n  labspace %s describe NAME -o json", k.use, k.use),
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			id, err := key(cmd.Context(), c, k, args[0], *scope)
			if err != nil {
				return err
			}
			var obj map[string]any
			if err := c.Do(cmd.Context(), "GET", "/api/v1/"+k.path+"/"+id, nil, &obj); err != nil {
				return err
			}
			if out == "table" || out == "wide" {
				out = "yaml" // one object reads best as YAML
			}
			return printData(cmd.OutOrStdout(), out, obj)
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func assetCreateCmd(k assetKind) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:     "create -f <file>",
		Short:   "Create a " + k.use + " from a YAML or JSON file ({meta, spec})",
		Example: fmt.Sprintf("  labspace %s create -f %s.yaml\n  cat %s.json | labspace %s create -f -", k.use, k.use, k.use, k.use),
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErr("give the file with -f")
			}
			obj := labspace.New(k.kind)
			if err := readFile(cmd, file, obj); err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/"+k.path, obj, obj); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s created.\n", strings.ToUpper(k.use[:1])+k.use[1:], obj.GetMeta().Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "file to read (- for standard input)")
	return cmd
}

func assetDeleteCmd(k assetKind, scope *string) *cobra.Command {
	return &cobra.Command{
		Use:     "delete <name>",
		Short:   "Delete a " + k.use + " (refused while something uses it)",
		Example: fmt.Sprintf("  labspace %s delete NAME", k.use),
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			id, err := key(cmd.Context(), c, k, args[0], *scope)
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/"+k.path+"/"+id, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s deleted.\n", strings.ToUpper(k.use[:1])+k.use[1:], args[0])
			return nil
		},
	}
}

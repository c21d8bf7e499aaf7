package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

var (
	jsonMarshal   = json.Marshal
	jsonUnmarshal = json.Unmarshal
)

// document is one object of an apply file: kind plus the object.
type document struct {
	kind assetKind
	obj  labspace.Object
}

func applyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f <file>",
		Short: "Create or update the objects of a YAML file (documents separated by ---)",
		Long: "Each document has `kind` (Project, Department, Environment, ComputeResource, DataSource,\n" +
			"Credential, Template), `meta` and `spec`. Objects that exist (same name and scope) are updated.\n" +
			"The whole file is checked before anything is sent.",
		Example: "  labspace apply -f blocks.yaml",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErr("give the file with -f")
			}
			docs, err := readDocuments(cmd, file)
			if err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			for _, d := range docs {
				verb, err := applyOne(cmd, c, d)
				if err != nil {
					return fmt.Errorf("%s %s: %w", d.kind.use, d.obj.GetMeta().Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s.\n", d.kind.use, d.obj.GetMeta().Name, verb)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "file to read (- for standard input)")
	return cmd
}

// readDocuments parses every document of the file strictly, before any is applied.
func readDocuments(cmd *cobra.Command, path string) ([]document, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(cmd.InOrStdin())
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usageErr("%v", err)
	}
	var docs []document
	for i, part := range bytes.Split(raw, []byte("\n---")) {
		if len(bytes.TrimSpace(part)) == 0 {
			continue
		}
		if js, err := yaml.YAMLToJSON(part); err == nil && string(js) == "null" {
			continue // only comments: an empty document, as before a leading ---
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(part, &head); err != nil {
			return nil, usageErr("%s: document %d: %v", path, i+1, err)
		}
		k, ok := kindByName(head.Kind)
		if !ok {
			return nil, usageErr("%s: document %d: kind must be one of %s (got %q)", path, i+1, kindNames(), head.Kind)
		}
		js, err := yaml.YAMLToJSON(part)
		if err != nil {
			return nil, usageErr("%s: document %d: %v", path, i+1, err)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(js, &m)
		delete(m, "kind")
		js, _ = json.Marshal(m)
		obj := labspace.New(k.kind)
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			return nil, usageErr("%s: document %d (%s): %v", path, i+1, head.Kind, err)
		}
		docs = append(docs, document{kind: k, obj: obj})
	}
	if len(docs) == 0 {
		return nil, usageErr("%s holds no documents", path)
	}
	return docs, nil
}

func kindByName(name string) (assetKind, bool) {
	for _, k := range assetKinds {
		if k.yamlKind == name {
			return k, true
		}
	}
	return assetKind{}, false
}

func kindNames() string {
	var s []string
	for _, k := range assetKinds {
		s = append(s, k.yamlKind)
	}
	return strings.Join(s, ", ")
}

// applyOne creates the object, or updates it with the stored
// resourceVersion when one of that name exists in its scope.
func applyOne(cmd *cobra.Command, c *client.Client, d document) (string, error) {
	m := d.obj.GetMeta()
	scope := ""
	if m.Scope.Type != "" {
		scope = m.Scope.String()
	}
	id, err := key(cmd.Context(), c, d.kind, m.Name, scope)
	if err == nil && !d.kind.byName || err == nil && d.kind.byName && exists(cmd, c, d.kind, id) {
		var cur map[string]any
		if err := c.Do(cmd.Context(), "GET", "/api/v1/"+d.kind.path+"/"+id, nil, &cur); err != nil {
			return "", err
		}
		m.ResourceVersion = metaOf(cur).ResourceVersion
		return "updated", c.Do(cmd.Context(), "PUT", "/api/v1/"+d.kind.path+"/"+id, d.obj, nil)
	}
	return "created", c.Do(cmd.Context(), "POST", "/api/v1/"+d.kind.path, d.obj, nil)
}

func exists(cmd *cobra.Command, c *client.Client, k assetKind, id string) bool {
	return c.Do(cmd.Context(), "GET", "/api/v1/"+k.path+"/"+id, nil, nil) == nil
}

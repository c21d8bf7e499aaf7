package main

import (
	"os"
	"strings"
	"testing"
)

// Every building-block command: create -f, list in each format, describe,
// delete, for each kind.
func TestBuildingBlocks(t *testing.T) {
	e := newEnv(t)
	e.login()
	department := writeFile(t, "department.yaml", "meta: {name: research, scope: {type: global}}\nspec: {quota: {gpus: 8}}\n")
	dataSource := writeFile(t, "datasource.yaml", "meta: {name: scratch, description: somewhere to write, scope: {type: global}}\n"+
		"spec: {type: host-path, mountPath: /scratch, hostPath: {path: /tmp}}\n")
	blocks := []struct {
		kind, file, name, created string
	}{
		{"department", department, "research", "Department research created.\n"},
		{"project", "testdata/project.yaml", "lab", "Project lab created.\n"},
		{"compute", "testdata/compute-tiny.yaml", "tiny", "Compute tiny created.\n"},
		{"environment", "testdata/environment-greeter.yaml", "greeter", "Environment greeter created.\n"},
		{"datasource", dataSource, "scratch", "Datasource scratch created.\n"},
		{"credential", "testdata/credential.yaml", "registry-login", "Credential registry-login created.\n"},
		{"template", "testdata/template.yaml", "quick-web", "Template quick-web created.\n"}, // uses tiny
	}
	for _, b := range blocks {
		if r := e.ok(b.kind, "create", "-f", b.file); r.stdout != b.created {
			t.Errorf("%s create:\n%s", b.kind, r)
		}
		// The same again is a conflict, not a second object.
		e.fails(exitError, []string{"already exists"}, b.kind, "create", "-f", b.file)

		rows := table(t, e.ok(b.kind, "list"), "NAME", "SCOPE", "AGE")
		found := 0
		for _, row := range rows {
			if row["NAME"] == b.name {
				found++
				if row["SCOPE"] != "global" {
					t.Errorf("%s list: %v", b.kind, row)
				}
			}
		}
		if found != 1 {
			t.Errorf("%s list shows %s %d times: %v", b.kind, b.name, found, rows)
		}
		rows = table(t, e.ok(b.kind, "list", "-o", "wide"), "NAME", "SCOPE", "AGE", "ID", "DESCRIPTION")
		for _, row := range rows {
			if row["NAME"] == b.name && len(row["ID"]) < 8 {
				t.Errorf("%s list -o wide: %v", b.kind, row)
			}
		}
		if !contains(e.names(b.kind, "list"), b.name) {
			t.Errorf("%s list -o json lacks %s", b.kind, b.name)
		}
		var ly listed
		decodeYAML(t, e.ok(b.kind, "list", "-o", "yaml"), &ly)
		if !contains(ly.names(), b.name) {
			t.Errorf("%s list -o yaml lacks %s: %v", b.kind, b.name, ly.names())
		}

		// describe: YAML by default, JSON on request.
		var obj struct {
			Meta struct{ Name, ID string }
			Spec map[string]any
		}
		d := e.ok(b.kind, "describe", b.name)
		decodeYAML(t, d, &obj)
		if obj.Meta.Name != b.name || obj.Spec == nil {
			t.Errorf("%s describe:\n%s", b.kind, d)
		}
		decodeJSON(t, e.ok(b.kind, "describe", b.name, "-o", "json"), &obj)
		if obj.Meta.Name != b.name {
			t.Errorf("%s describe -o json: %+v", b.kind, obj)
		}
		// ... and by id.
		if b.kind != "project" && b.kind != "department" {
			decodeJSON(t, e.ok(b.kind, "describe", obj.Meta.ID, "-o", "json"), &obj)
			if obj.Meta.Name != b.name {
				t.Errorf("%s describe <id>: %+v", b.kind, obj)
			}
		}
		e.fails(exitError, []string{"nope"}, b.kind, "describe", "nope")
	}

	// A credential's secret values are never shown, only its keys.
	for _, out := range []string{"yaml", "json"} {
		d := e.ok("credential", "describe", "registry-login", "-o", out)
		if strings.Contains(d.stdout, "hunter2") || !strings.Contains(d.stdout, "username") {
			t.Errorf("credential describe -o %s:\n%s", out, d)
		}
	}

	// Something in use cannot be deleted.
	e.fails(exitError, []string{"in use by template", "quick-web"}, "compute", "delete", "tiny")
	if !contains(e.names("compute", "list"), "tiny") {
		t.Error("compute tiny was deleted while in use")
	}

	for i := len(blocks) - 1; i >= 0; i-- {
		b := blocks[i]
		want := strings.Replace(b.created, "created", "deleted", 1)
		if r := e.ok(b.kind, "delete", b.name); r.stdout != want {
			t.Errorf("%s delete:\n%s", b.kind, r)
		}
		if contains(e.names(b.kind, "list"), b.name) {
			t.Errorf("%s %s is still listed after delete", b.kind, b.name)
		}
		e.fails(exitError, []string{b.name}, b.kind, "describe", b.name)
		e.fails(exitError, []string{b.name}, b.kind, "delete", b.name)
	}
}

// The objects of testdata/blocks.yaml, as kind -> name, and the scope to
// list them in.
var applied = []struct{ kind, name, scope string }{
	{"project", "vision", ""},
	{"compute", "mini", "global"},
	{"environment", "notebook", "project/vision"},
	{"datasource", "scratch", "project/vision"},
	{"credential", "wandb", "project/vision"},
	{"template", "train", "project/vision"},
}

func (e *env) listedIn(kind, scope string) []string {
	e.t.Helper()
	if scope == "" {
		return e.names(kind, "list")
	}
	return e.names(kind, "list", "--scope", scope)
}

func TestApply(t *testing.T) {
	e := newEnv(t)
	e.login()
	r := e.ok("apply", "-f", "testdata/blocks.yaml")
	want := "project vision created.\ncompute mini created.\nenvironment notebook created.\n" +
		"datasource scratch created.\ncredential wandb created.\ntemplate train created.\n"
	if r.stdout != want {
		t.Errorf("first apply:\n%s", r)
	}
	for _, a := range applied {
		if !contains(e.listedIn(a.kind, a.scope), a.name) {
			t.Errorf("%s %s is not listed in %q after apply", a.kind, a.name, a.scope)
		}
	}

	// Again: the same objects are updated, none is added.
	if r := e.ok("apply", "-f", "testdata/blocks.yaml"); r.stdout != strings.ReplaceAll(want, "created", "updated") {
		t.Errorf("second apply:\n%s", r)
	}
	if got := e.names("compute", "list"); strings.Count(strings.Join(got, " "), "mini") != 1 {
		t.Errorf("compute list after the second apply: %v", got)
	}
	// A changed file changes the objects.
	raw, err := os.ReadFile("testdata/blocks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(raw), "description: a tenth of a core", "description: one tenth of a core", 1)
	e.ok("apply", "-f", writeFile(t, "changed.yaml", changed))
	var mini struct {
		Meta struct {
			Description     string
			ResourceVersion int
		}
	}
	decodeYAML(t, e.ok("compute", "describe", "mini"), &mini)
	if mini.Meta.Description != "one tenth of a core" || mini.Meta.ResourceVersion < 3 {
		t.Errorf("compute mini after applying a change: %+v", mini.Meta)
	}

	// Standard input, a comment before the first --- and after the last.
	r = e.cliIn("# extra blocks\n---\nkind: ComputeResource\nmeta: {name: micro, scope: {type: global}}\nspec: {cpuRequest: 50m}\n---\n# the end\n",
		"apply", "-f", "-")
	if r.code != exitOK || r.stdout != "compute micro created.\n" {
		t.Errorf("apply -f - with comments:\n%s", r)
	}

	// A bad document anywhere: exit 2, and nothing of the file is created.
	computes, envs := e.names("compute", "list"), e.names("environment", "list")
	e.fails(exitUsage, []string{"testdata/blocks-unknown-field.yaml", "document 2", "Environment", `unknown field "argz"`},
		"apply", "-f", "testdata/blocks-unknown-field.yaml")
	e.fails(exitUsage, []string{"testdata/blocks-unknown-kind.yaml", "document 2", "kind must be one of", `"Widget"`},
		"apply", "-f", "testdata/blocks-unknown-kind.yaml")
	noKind := strings.Replace(string(raw), "kind: Template\n", "", 1)
	e.fails(exitUsage, []string{"document 6", `(got "")`}, "apply", "-f", writeFile(t, "nokind.yaml", noKind))
	badYAML := "kind: ComputeResource\nmeta: {name: never-made, scope: {type: global}}\n---\nkind: [unclosed\n"
	e.fails(exitUsage, []string{"document 2"}, "apply", "-f", writeFile(t, "bad.yaml", badYAML))
	e.fails(exitUsage, []string{"holds no documents"}, "apply", "-f", writeFile(t, "empty.yaml", "# nothing\n"))
	e.fails(exitUsage, []string{"give the file with -f"}, "apply")
	e.fails(exitUsage, []string{"no such file"}, "apply", "-f", "testdata/no-such-file.yaml")
	if got := e.names("compute", "list"); strings.Join(got, ",") != strings.Join(computes, ",") {
		t.Errorf("compute resources changed by failed applies: %v, were %v", got, computes)
	}
	if got := e.names("environment", "list"); strings.Join(got, ",") != strings.Join(envs, ",") {
		t.Errorf("environments changed by failed applies: %v, were %v", got, envs)
	}

	// The server's validation names the field at fault.
	e.failsIn("kind: ComputeResource\nmeta: {name: greedy, scope: {type: global}}\nspec: {cpuRequest: lots}\n",
		exitUsage, []string{"compute greedy", "spec.cpuRequest", `"lots"`}, "apply", "-f", "-")
	if contains(e.names("compute", "list"), "greedy") {
		t.Error("an invalid compute resource was created")
	}

	// What apply made is usable: a workspace from the template.
	e.ok("ws", "create", "t1", "-p", "vision", "--template", "train", "--stopped")
	w := e.workspace("vision", "t1")
	if w.Spec.Template == nil || w.Spec.Template.Name != "train" || w.Spec.Compute.From.Name != "mini" ||
		len(w.Spec.DataSources) != 1 || w.Spec.DataSources[0].Spec.MountPath != "/scratch" {
		t.Errorf("workspace from the applied template: %+v", w.Spec)
	}
}

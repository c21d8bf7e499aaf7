package labspace_test

import (
	"os"
	"strings"
	"testing"

	"github.com/labspace/labspace"
)

// docs/access.md shows the permission matrix the code enforces; this test
// keeps the two equal. Regenerate the table with:
//
//	LABSPACE_WRITE_MATRIX=1 go test -run TestAccessDocMatchesMatrix .
func TestAccessDocMatchesMatrix(t *testing.T) {
	doc, err := os.ReadFile("docs/access.md")
	if err != nil {
		t.Fatal(err)
	}
	m := labspace.PermissionMatrix()
	if os.Getenv("LABSPACE_WRITE_MATRIX") != "" {
		os.Stdout.WriteString(m)
	}
	if !strings.Contains(string(doc), m) {
		t.Errorf("docs/access.md does not contain the current permission matrix:\n%s", m)
	}
}

func TestGrantsCoverTheScopesBelow(t *testing.T) {
	a := &labspace.Actor{
		Grants:      []labspace.Grant{{Role: labspace.RoleL2Researcher, Scope: labspace.ProjectScope("vision")}},
		Departments: map[string]string{"vision": "research"},
	}
	cases := []struct {
		verb  labspace.Verb
		res   labspace.Resource
		scope labspace.Scope
		can   bool
		see   bool
	}{
		{labspace.VerbCreate, labspace.ResWorkspaces, labspace.ProjectScope("vision"), true, true},
		{labspace.VerbCreate, labspace.ResWorkspaces, labspace.ProjectScope("nlp"), false, false},
		{labspace.VerbCreate, labspace.ResAssets, labspace.ProjectScope("vision"), false, true},
		// Building blocks above the project are visible from it, not writable.
		{labspace.VerbUpdate, labspace.ResAssets, labspace.Global, false, true},
		{labspace.VerbUpdate, labspace.ResAssets, labspace.DepartmentScope("research"), false, true},
		{labspace.VerbUpdate, labspace.ResAssets, labspace.DepartmentScope("other"), false, false},
		{labspace.VerbRead, labspace.ResWorkspaces, labspace.Global, false, false},
	}
	for _, c := range cases {
		if got := a.Can(c.verb, c.res, c.scope); got != c.can {
			t.Errorf("Can(%s, %s, %s) = %v", c.verb, c.res, c.scope, got)
		}
		if got := a.CanSee(c.res, c.scope); got != c.see {
			t.Errorf("CanSee(%s, %s) = %v", c.res, c.scope, got)
		}
	}
	if !labspace.RoleDepartmentAdministrator.Covers(labspace.RoleL1Researcher) || labspace.RoleL1Researcher.Covers(labspace.RoleViewer) {
		t.Error("Covers")
	}
}

func TestQuantities(t *testing.T) {
	cases := []struct {
		in    string
		cpu   int64
		cpuOK bool
		mem   int64
		memOK bool
	}{
		{"2", 2000, true, 2, true},
		{"500m", 500, true, 1, true},
		{"1.5", 1500, true, 2, true},
		{"16Gi", 0, false, 16 << 30, true},
		{"512M", 0, false, 512e6, true},
		{"1e30", 0, false, 0, false},
		{"-1", 0, false, 0, false},
		{"", 0, false, 0, false},
		{"2Pi", 0, false, 2 << 50, false},
		{"NaN", 0, false, 0, false},
		{"10000000", 0, false, 10000000, true},
	}
	for _, c := range cases {
		cpu, ok := labspace.MilliCPU(c.in)
		if ok != c.cpuOK || (ok && cpu != c.cpu) {
			t.Errorf("MilliCPU(%q) = %d, %v", c.in, cpu, ok)
		}
		mem, ok := labspace.MemoryBytes(c.in)
		if ok != c.memOK || (ok && mem != c.mem) {
			t.Errorf("MemoryBytes(%q) = %d, %v", c.in, mem, ok)
		}
	}
}

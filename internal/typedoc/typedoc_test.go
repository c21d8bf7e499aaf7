package typedoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	src := `package demo

// Color is a colour
// of a thing.
type Color string

const (
	Red  Color = "red"
	Blue Color = "blue" // the sky
)

// Shape is a form.
type Shape string

// Shapes lists the shapes.
var Shapes = []Shape{"circle", "square"}

// Thing is something.
type Thing struct {
	// Name names it.
	Name  string ` + "`json:\"name\"`" + `
	Color Color  ` + "`json:\"color\"`" + ` // its colour
	Bare  int    ` + "`json:\"bare\"`" + `
}

// hidden is not served.
type hidden struct {
	X int ` + "`json:\"x\"`" + `
}

// NoJSON has no json tags.
type NoJSON struct{ A int }
`
	if err := os.WriteFile(filepath.Join(dir, "demo.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Generate("x", []Package{{dir, "demo"}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		`"demo.Thing":       "Thing is something."`,
		`"demo.Thing.Name":  "Name names it."`,
		`"demo.Thing.Color": "its colour"`,
		`"demo.Color":       "Color is a colour of a thing."`,
		`"demo.Color": {"red", "blue"}`,
		`"demo.Shape": {"circle", "square"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	for _, not := range []string{"demo.Thing.Bare", "hidden", "NoJSON"} {
		if strings.Contains(got, not) {
			t.Errorf("%s should not be there:\n%s", not, got)
		}
	}
}

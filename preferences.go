package labspace

import "regexp"

// Preferences are a user's own choices of how the UI shows things. They
// are kept with the user (not in a browser), so they follow the user from
// one browser to another.
type Preferences struct {
	// GridColumns are the optional columns of the workspace grid the user
	// shows, in their order; nil: the UI's defaults. The UI knows the
	// column names and ignores names it no longer has.
	GridColumns []string `json:"gridColumns"`
}

// MaxGridColumns bounds the columns one user can keep.
const MaxGridColumns = 32

var columnName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]{0,31}$`)

// Validate checks the preferences' shape.
func (p *Preferences) Validate(v *Invalid) {
	if len(p.GridColumns) > MaxGridColumns {
		v.Add("gridColumns", "must list at most 32 columns")
		return
	}
	seen := map[string]bool{}
	for i, c := range p.GridColumns {
		field := "gridColumns[" + itoa(i) + "]"
		switch {
		case !columnName.MatchString(c):
			v.Add(field, "must be a column name (letters and digits, at most 32)")
		case seen[c]:
			v.Add(field, "is listed twice")
		}
		seen[c] = true
	}
}

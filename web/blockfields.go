package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
)

// Friendly forms: a building block whose kind lists fields gets an input
// per field instead of the JSON editor (which stays one link away). The
// fields are top-level keys of the spec; keys the form does not show are
// kept as they were (the spec travels in a hidden input).

// specField is one input of a friendly form.
type specField struct {
	Key   string // the spec's JSON key
	Label string
	Type  string // text, number, checkbox, or list (words separated by spaces)
}

var environmentFields = []specField{
	{"image", "Image (such as quay.io/jupyter/base-notebook:latest)", "text"},
	{"command", "Command (words separated by spaces; empty: the image's)", "list"},
	{"args", "Arguments (words separated by spaces; $(PORT) and $(BASE_URL) are the tool's)", "list"},
	{"workingDir", "Working directory (empty: the image's)", "text"},
}

var computeFields = []specField{
	{"gpuDevices", "GPU devices (whole GPUs; 0 for none)", "number"},
	{"cpuRequest", "CPU request, in cores (such as 1 or 500m)", "text"},
	{"cpuLimit", "CPU limit (empty: none)", "text"},
	{"memoryRequest", "Memory request (such as 2Gi)", "text"},
	{"memoryLimit", "Memory limit (empty: none)", "text"},
	{"largeShm", "Large /dev/shm (for data loaders)", "checkbox"},
}

// fieldValue is a field with its value and errors, as the form shows it.
type fieldValue struct {
	specField
	Value string
	Errs  []string
}

// withFields switches the form to its fields when the kind has some and
// the user did not ask for JSON, filling them from the spec.
func (f *blockForm) withFields(r *http.Request) {
	if len(f.K.Fields) == 0 || r.URL.Query().Get("json") != "" {
		return
	}
	var spec map[string]any
	_ = json.Unmarshal([]byte(f.Spec), &spec)
	for _, sf := range f.K.Fields {
		v := ""
		switch x := spec[sf.Key].(type) {
		case string:
			v = x
		case bool:
			v = checked(x)
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case []any:
			for i, w := range x {
				if i > 0 {
					v += " "
				}
				v += fmt.Sprint(w)
			}
		}
		f.Fields = append(f.Fields, fieldValue{specField: sf, Value: v})
	}
	f.Kept = keptKeys(spec, f.K.Fields)
}

// keptKeys lists the spec's settings that the fields do not show.
func keptKeys(spec map[string]any, fields []specField) []string {
	var out []string
	for k := range spec {
		shown := false
		for _, sf := range fields {
			shown = shown || sf.Key == k
		}
		if !shown {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fromFields rebuilds f.Spec from the posted fields over the posted spec.
func (f *blockForm) fromFields(r *http.Request) error {
	if r.PostFormValue("fields") == "" {
		return nil
	}
	spec := map[string]any{}
	if err := json.Unmarshal([]byte(f.Spec), &spec); err != nil {
		spec = map[string]any{}
	}
	var bad labspace.Invalid
	for _, sf := range f.K.Fields {
		raw := strings.TrimSpace(r.PostFormValue("f." + sf.Key))
		f.Fields = append(f.Fields, fieldValue{specField: sf, Value: raw})
		switch {
		case sf.Type == "checkbox":
			spec[sf.Key] = raw != ""
		case raw == "":
			delete(spec, sf.Key)
		case sf.Type == "list":
			spec[sf.Key] = strings.Fields(raw)
		case sf.Type == "number":
			n, err := strconv.Atoi(raw)
			if err != nil {
				bad.Add("spec."+sf.Key, "must be a whole number")
			}
			spec[sf.Key] = n
		default:
			spec[sf.Key] = raw
		}
	}
	out, _ := json.Marshal(spec)
	f.Spec = string(out)
	f.Kept = keptKeys(spec, f.K.Fields)
	return bad.Err()
}

// fieldErr files a spec error under its field's input; it reports false
// when no field shows that key.
func (f *blockForm) fieldErr(fe labspace.FieldError) bool {
	for i := range f.Fields {
		if fe.Field == "spec."+f.Fields[i].Key {
			f.Fields[i].Errs = append(f.Fields[i].Errs, fe.Detail)
			return true
		}
	}
	return false
}

// JSONURL is this form as the JSON editor.
func (f *blockForm) JSONURL() string {
	if f.Edit {
		return fmt.Sprintf("/%s/%s/edit?json=1", f.K.Path, f.ID)
	}
	return "/" + f.K.Path + "/new?json=1"
}

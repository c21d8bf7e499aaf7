package store

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/labspace/labspace"
)

var allKinds = []labspace.Kind{labspace.KindUser, labspace.KindGroup, labspace.KindApplication, labspace.KindDepartment,
	labspace.KindProject, labspace.KindAccessRule, labspace.KindEnvironment, labspace.KindComputeResource,
	labspace.KindDataSource, labspace.KindCredential, labspace.KindTemplate, labspace.KindWorkspace}

var oddStrings = []string{"", "a", "plain-name", `quote " and \ backslash`, "<html> & co", "tab\tnew\nline\x01",
	"ünïcödé ✓", "line\u2028sep\u2029", "}{][,:"}

// fill sets every field of v to a value drawn from rng, so that documents
// have every field present, nested and escaped.
func fill(rng *rand.Rand, v reflect.Value, depth int) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		zones := []*time.Location{time.UTC, time.FixedZone("X", 5*3600+30*60)}
		v.Set(reflect.ValueOf(time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(zones[rng.IntN(2)])))
		return
	}
	switch v.Kind() {
	case reflect.String:
		s := oddStrings[rng.IntN(len(oddStrings))]
		if rng.IntN(200) == 0 {
			s = "bad utf8 \xff\xfe" // rare, as such a document is not spliced
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64N(1 << 40))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rng.Uint64N(200))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(rng.Float64() * 1e6)
	case reflect.Pointer:
		if depth < 6 && rng.IntN(4) > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fill(rng, v.Elem(), depth+1)
		}
	case reflect.Slice:
		if depth < 6 {
			n := rng.IntN(3)
			v.Set(reflect.MakeSlice(v.Type(), n, n))
			for i := range n {
				fill(rng, v.Index(i), depth+1)
			}
		}
	case reflect.Map:
		if depth < 6 {
			v.Set(reflect.MakeMap(v.Type()))
			for range rng.IntN(3) {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fill(rng, k, depth+1)
				fill(rng, e, depth+1)
				v.SetMapIndex(k, e)
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(rng, v.Field(i), depth+1)
			}
		}
	}
}

// slow is what the API did before AppendJSON: decode, then json.Marshal.
func slow(t *testing.T, r *Record) []byte {
	t.Helper()
	obj := labspace.New(r.Kind)
	if err := Decode(r, obj); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// stored is r as the store gives it back: times in UTC, the
// resourceVersion bumped past the one in the document.
func stored(r *Record, rng *rand.Rand) *Record {
	c := *r
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	c.RV += 1 + rng.Int64N(3)
	return &c
}

func TestAppendJSONMatchesDecodeAndMarshal(t *testing.T) {
	if !spliceWorks {
		t.Fatal("spliceMeta no longer writes meta as json.Marshal does: update it beside labspace.Meta")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	unstamped, total := 0, 0
	for _, k := range allKinds {
		for i := range 300 {
			total++
			obj := labspace.New(k)
			fill(rng, reflect.ValueOf(obj).Elem(), 0)
			if i%3 == 0 {
				obj.GetMeta().Scope = labspace.Global
			}
			r, err := Encode(obj)
			if err != nil {
				t.Fatal(err)
			}
			if wantFormat := DocFormat(k); bytes.Contains(r.Data, []byte(`\ufffd`)) {
				wantFormat = ""
				unstamped++
			} else if r.Format != wantFormat || wantFormat == "" {
				t.Fatalf("%s: Encode stamped format %q, want %q", k, r.Format, wantFormat)
			}
			r = stored(r, rng)
			want := slow(t, r)
			if _, ok := spliceMeta(nil, r); !ok && r.Format != "" {
				t.Fatalf("%s: the splice refused Encode's document %s", k, r.Data)
			}
			got, err := AppendJSON([]byte("prefix"), r)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("%s: AppendJSON\n got %s (%v)\nwant prefix%s", k, got, err, want)
			}
		}
	}
	t.Logf("%d of %d documents unstamped (invalid UTF-8), decoded instead", unstamped, total)
	if unstamped > total/2 {
		t.Errorf("%d of %d documents unstamped: the splice is barely tried", unstamped, total)
	}
}

// Documents of another shape, or written by anything but Encode, are
// decoded and encoded again, as before.
func TestAppendJSONOtherDocuments(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	ws := &labspace.Workspace{Meta: labspace.Meta{ID: "id-1", Name: "ws", Scope: labspace.ProjectScope("p"),
		ResourceVersion: 1, CreatedAt: at, UpdatedAt: at, CreatedBy: "alice"}, DesiredPhase: labspace.PhaseRunning}
	r, err := Encode(ws)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Data, &m); err != nil {
		t.Fatal(err)
	}
	m["gone"] = "a field the type no longer has"
	sorted, _ := json.Marshal(m) // keys sorted, meta no longer first
	cases := map[string]*Record{
		"no format":     {Data: r.Data},
		"old format":    {Data: r.Data, Format: "j0-old"},
		"sorted keys":   {Data: sorted, Format: r.Format},
		"not an object": {Data: []byte(`{"meta":[1,2],"spec":{}}`), Format: r.Format},
		"meta cut off":  {Data: []byte(`{"meta":{"id":"x","name":`), Format: r.Format},
	}
	for name, c := range cases {
		c.Kind, c.ID, c.Name, c.Scope, c.RV, c.CreatedAt, c.UpdatedAt, c.CreatedBy =
			r.Kind, r.ID, r.Name, r.Scope, 3, at, at.Add(time.Second), "bob"
		got, err := AppendJSON(nil, c)
		obj := labspace.New(c.Kind)
		derr := Decode(c, obj)
		if derr != nil {
			if err == nil {
				t.Errorf("%s: AppendJSON took %s, which does not decode (%v)", name, c.Data, derr)
			}
			continue
		}
		want, _ := json.Marshal(obj)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s (%v)\nwant %s", name, got, err, want)
		}
	}
}

func TestDocFormat(t *testing.T) {
	seen := map[string]labspace.Kind{}
	for _, k := range allKinds {
		f := DocFormat(k)
		if f == "" || f != DocFormat(k) {
			t.Fatalf("%s: format %q, not stable", k, f)
		}
		if other, ok := seen[f]; ok {
			t.Errorf("%s and %s share format %s", k, other, f)
		}
		seen[f] = k
	}
	if DocFormat("no-such-kind") != "" {
		t.Error("an unknown kind has a format")
	}
	// Any change to what json.Marshal writes changes the format, even
	// under the same type name (types in different functions share it).
	shape := func(v any) string {
		var buf bytes.Buffer
		writeShape(&buf, reflect.TypeOf(v), map[reflect.Type]bool{})
		return buf.String()
	}
	shapes := []string{
		func() string {
			type doc struct {
				X string `json:"x"`
			}
			return shape(doc{})
		}(),
		func() string {
			type doc struct {
				X string `json:"x,omitempty"`
			}
			return shape(doc{})
		}(),
		func() string {
			type doc struct {
				X int `json:"x"`
			}
			return shape(doc{})
		}(),
		func() string {
			type doc struct {
				X string `json:"x"`
				Y string `json:"y"`
			}
			return shape(doc{})
		}(),
	}
	for i := range shapes {
		for j := range i {
			if shapes[i] == shapes[j] {
				t.Errorf("shapes %d and %d are both %s", j, i, shapes[i])
			}
		}
	}
}

// Decoding into a workspace used before keeps nothing of it: a
// transaction that runs again once held an admission its first try gave,
// and started a workload the quota had refused (found with two replicas
// on PostgreSQL).
func TestDecodeEmptiesTheTarget(t *testing.T) {
	w := &labspace.Workspace{Meta: labspace.Meta{ID: "w1", Name: "w", Scope: labspace.ProjectScope("p")}}
	rec, err := Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	w.Status.Admission = &labspace.Admission{}
	w.Status.Phase = labspace.PhaseInitializing
	if err := Decode(rec, w); err != nil {
		t.Fatal(err)
	}
	if w.Status.Admission != nil || w.Status.Phase != "" {
		t.Errorf("decoded over an old try: %+v", w.Status)
	}
}

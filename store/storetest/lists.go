package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// The contract of lists: kinds, scopes, filters, search, sorting, pages.

func testListKind(t *testing.T, s store.Store) {
	insert(t, s, rec(labspace.KindEnvironment, "a"), rec(labspace.KindEnvironment, "b"), rec(labspace.KindDataSource, "c"))
	got, next, err := list(t, s, labspace.KindEnvironment, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(got), []string{"a", "b"}) || next != "" {
		t.Fatalf("list = %q, %q; want [a b] sorted by name and no continue", names(got), next)
	}
	got, _, err = list(t, s, labspace.KindTemplate, store.ListQuery{})
	if err != nil || len(got) != 0 {
		t.Fatalf("list of a kind with no records = %q, %v; want none", names(got), err)
	}
}

func testListScopes(t *testing.T, s store.Store) {
	p1, p2, x := labspace.ProjectScope("p1"), labspace.ProjectScope("p2"), labspace.ProjectScope("x")
	d1, dx := labspace.DepartmentScope("d1"), labspace.DepartmentScope("x")
	insert(t, s,
		rec(labspace.KindEnvironment, "in-p1", inScope(p1)),
		rec(labspace.KindEnvironment, "in-p2", inScope(p2)),
		rec(labspace.KindEnvironment, "in-d1", inScope(d1)),
		rec(labspace.KindEnvironment, "in-dx", inScope(dx)),
		rec(labspace.KindEnvironment, "in-global", inScope(labspace.Global)),
		rec(labspace.KindDataSource, "ds-in-p1", inScope(p1)),
	)
	for _, tc := range []struct {
		name   string
		scopes []labspace.Scope
		want   []string
	}{
		{"nil is any", nil, []string{"in-p1", "in-p2", "in-d1", "in-dx", "in-global"}},
		{"empty is none", []labspace.Scope{}, nil},
		{"one project", []labspace.Scope{p1}, []string{"in-p1"}},
		{"two projects", []labspace.Scope{p1, p2}, []string{"in-p1", "in-p2"}},
		{"global", []labspace.Scope{labspace.Global}, []string{"in-global"}},
		{"mix", []labspace.Scope{p2, d1, labspace.Global}, []string{"in-p2", "in-d1", "in-global"}},
		{"interleaved types", []labspace.Scope{p1, d1, p2, dx}, []string{"in-p1", "in-d1", "in-p2", "in-dx"}},
		{"type matters", []labspace.Scope{x}, nil},
		{"department", []labspace.Scope{dx}, []string{"in-dx"}},
		{"unknown", []labspace.Scope{labspace.ProjectScope("nope")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindEnvironment, store.ListQuery{Scopes: tc.scopes}), tc.want...)
		})
	}
}

func testListFilters(t *testing.T, s store.Store) {
	insert(t, s,
		rec(labspace.KindAccessRule, "a", withPhase("Running"), withCreatedBy("user:alice"), withSubject("user:alice")),
		rec(labspace.KindAccessRule, "b", withPhase("Stopped"), withCreatedBy("user:bob"), withSubject("group:devs")),
		rec(labspace.KindAccessRule, "c", withPhase("Running"), withCreatedBy("user:bob"), withSubject("user:bob")),
		rec(labspace.KindAccessRule, "d", inScope(labspace.Global), withPhase("Failed"), withCreatedBy("user:alice"), withSubject("user:alice")),
		rec(labspace.KindAccessRule, "a", inScope(labspace.ProjectScope("p2")), withSubject("user:carol")),
	)
	for _, tc := range []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"names", store.ListQuery{Names: []string{"b", "d"}}, []string{"b", "d"}},
		{"names in two scopes", store.ListQuery{Names: []string{"a"}}, []string{"a", "a"}},
		{"unknown name", store.ListQuery{Names: []string{"zz"}}, nil},
		{"phase", store.ListQuery{Phase: "Running"}, []string{"a", "c"}},
		{"unknown phase", store.ListQuery{Phase: "Nope"}, nil},
		{"created by", store.ListQuery{CreatedBy: "user:bob"}, []string{"b", "c"}},
		{"subjects", store.ListQuery{Subjects: []string{"user:alice", "group:devs"}}, []string{"a", "b", "d"}},
		{"one subject", store.ListQuery{Subjects: []string{"user:carol"}}, []string{"a"}},
		{"combined", store.ListQuery{Phase: "Running", CreatedBy: "user:alice"}, []string{"a"}},
		{"with scope", store.ListQuery{Scopes: []labspace.Scope{labspace.Global}, Subjects: []string{"user:alice"}}, []string{"d"}},
		{"names and scope", store.ListQuery{Scopes: []labspace.Scope{labspace.ProjectScope("p2")}, Names: []string{"a", "b"}}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindAccessRule, tc.q), tc.want...)
		})
	}
}

func testListSearch(t *testing.T, s store.Store) {
	for _, n := range []string{"web-app", "my-web", "db", "a%b", "axb", "a_b", "ayb", `a\b`, "100%"} {
		insert(t, s, rec(labspace.KindEnvironment, n))
	}
	for _, tc := range []struct {
		search string
		want   []string
	}{
		{"web", []string{"web-app", "my-web"}},
		{"web-app", []string{"web-app"}},
		{"-", []string{"web-app", "my-web"}},
		{"nope", nil},
		{"%", []string{"a%b", "100%"}},
		{"a%b", []string{"a%b"}},
		{"_", []string{"a_b"}},
		{"a_b", []string{"a_b"}},
		{`\`, []string{`a\b`}},
		{`a\b`, []string{`a\b`}},
	} {
		t.Run(tc.search, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindEnvironment, store.ListQuery{Search: tc.search}), tc.want...)
		})
	}
}

func testListFilterBy(t *testing.T, s store.Store) {
	for _, n := range []string{"bert-a", "Bert-b", "gpt", "a%b", "axb", "a_b", `a\b`, "o'brien", "x-bert"} {
		insert(t, s, rec(labspace.KindWorkspace, n, withPhase("Running"), withCreatedBy("alice")))
	}
	insert(t, s, rec(labspace.KindWorkspace, "stopped-bert", withPhase("Stopped"), withCreatedBy("bob")),
		rec(labspace.KindWorkspace, "bert-other", inScope(labspace.ProjectScope("p2")), withPhase("Running"), withCreatedBy("bob")),
		rec(labspace.KindEnvironment, "bert-env")) // another kind: never listed
	f := func(field string, op store.FilterOp, v string) store.Filter {
		return store.Filter{Field: field, Op: op, Value: v}
	}
	p1 := []labspace.Scope{labspace.ProjectScope("p1")}
	for _, tc := range []struct {
		name    string
		scopes  []labspace.Scope
		filters []store.Filter
		want    []string
	}{
		{"contains, any case", p1, []store.Filter{f("name", store.OpContains, "bert")}, []string{"bert-a", "Bert-b", "x-bert", "stopped-bert"}},
		{"contains upper", p1, []store.Filter{f("name", store.OpContains, "BERT")}, []string{"bert-a", "Bert-b", "x-bert", "stopped-bert"}},
		{"not contains", p1, []store.Filter{f("name", store.OpNotContains, "bert")}, []string{"gpt", "a%b", "axb", "a_b", `a\b`, "o'brien"}},
		{"prefix", p1, []store.Filter{f("name", store.OpPrefix, "bert")}, []string{"bert-a", "Bert-b"}},
		{"suffix", p1, []store.Filter{f("name", store.OpSuffix, "bert")}, []string{"x-bert", "stopped-bert"}},
		{"equal is exact", p1, []store.Filter{f("name", store.OpEqual, "bert-b")}, nil},
		{"equal", p1, []store.Filter{f("name", store.OpEqual, "Bert-b")}, []string{"Bert-b"}},
		{"not equal", p1, []store.Filter{f("phase", store.OpNotEqual, "Running")}, []string{"stopped-bert"}},
		{"creator", nil, []store.Filter{f("creator", store.OpEqual, "bob")}, []string{"stopped-bert", "bert-other"}},
		{"anded", p1, []store.Filter{f("name", store.OpContains, "bert"), f("phase", store.OpEqual, "Running"), f("creator", store.OpEqual, "alice")},
			[]string{"bert-a", "Bert-b", "x-bert"}},
		{"scope holds", p1, []store.Filter{f("creator", store.OpEqual, "bob"), f("name", store.OpEqual, "bert-other")}, nil},
		{"no scope", []labspace.Scope{}, []store.Filter{f("name", store.OpContains, "")}, nil},
		// Wildcards and quotes are matched as themselves.
		{"percent", p1, []store.Filter{f("name", store.OpContains, "%")}, []string{"a%b"}},
		{"underscore", p1, []store.Filter{f("name", store.OpContains, "_")}, []string{"a_b"}},
		{"backslash", p1, []store.Filter{f("name", store.OpContains, `\`)}, []string{`a\b`}},
		{"quote", p1, []store.Filter{f("name", store.OpContains, "'")}, []string{"o'brien"}},
		{"injection", p1, []store.Filter{f("name", store.OpEqual, "x' OR '1'='1")}, nil},
		{"injection contains", p1, []store.Filter{f("name", store.OpContains, "'; DROP TABLE objects; --")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := store.ListQuery{Scopes: tc.scopes, Filters: tc.filters, Limit: 2}
			wantNames(t, listAll(t, s, labspace.KindWorkspace, q), tc.want...)
		})
	}
	// Still there after the injections.
	wantNames(t, listAll(t, s, labspace.KindEnvironment, store.ListQuery{}), "bert-env")
	for _, bad := range []store.Filter{f("secret", store.OpEqual, "x"), f("data", store.OpEqual, "x"), f("name; DROP TABLE objects", store.OpEqual, "x"),
		f("name", "~~", "x"), f("name", "", "x")} {
		_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{Filters: []store.Filter{bad}})
		wantCode(t, err, labspace.EINVALID)
	}
}

func testListFilterByEnvironment(t *testing.T, s store.Store) {
	ws := func(name, env string) *store.Record {
		return rec(labspace.KindWorkspace, name, withData(map[string]any{"spec": map[string]any{
			"environment": map[string]any{"from": map[string]any{"name": env}}}}))
	}
	insert(t, s, ws("a", "jupyter-lab"), ws("b", "vscode"), ws("c", "jupyter-gpu"), rec(labspace.KindWorkspace, "d"))
	f := func(op store.FilterOp, v string) []store.Filter {
		return []store.Filter{{Field: "environment", Op: op, Value: v}}
	}
	for _, tc := range []struct {
		name    string
		filters []store.Filter
		want    []string
	}{
		{"equal", f(store.OpEqual, "vscode"), []string{"b"}},
		{"not equal", f(store.OpNotEqual, "vscode"), []string{"a", "c", "d"}},
		{"prefix", f(store.OpPrefix, "jupyter"), []string{"a", "c"}},
		{"contains", f(store.OpContains, "GPU"), []string{"c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindWorkspace, store.ListQuery{Filters: tc.filters}), tc.want...)
		})
	}
}

func testListOffset(t *testing.T, s store.Store) {
	recs := tiedRecords(23)
	insert(t, s, recs...)
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			all := listAll(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 1000})
			for _, off := range []int{0, 1, 5, 22, 23, 30} {
				page, next, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 5, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				want := all[min(off, len(all)):min(off+5, len(all))]
				if !slices.Equal(ids(page), ids(want)) {
					t.Errorf("sort %q desc %v offset %d: %v, want %v", sortBy, desc, off, names(page), names(want))
				}
				if (off+5 < len(all)) != (next != "") {
					t.Errorf("sort %q desc %v offset %d: continue %q", sortBy, desc, off, next)
				}
				if next != "" { // the cursor carries on after the offset page
					rest := listAll(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 5, Continue: next})
					if !slices.Equal(ids(rest), ids(all[off+5:])) {
						t.Errorf("sort %q desc %v offset %d: the rest is %v, want %v", sortBy, desc, off, names(rest), names(all[off+5:]))
					}
				}
			}
		}
	}
	_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{Offset: -1})
	wantCode(t, err, labspace.EINVALID)
	_, next, _ := list(t, s, labspace.KindWorkspace, store.ListQuery{Limit: 2})
	_, _, err = list(t, s, labspace.KindWorkspace, store.ListQuery{Limit: 2, Offset: 2, Continue: next})
	wantCode(t, err, labspace.EINVALID)
}

func testListSort(t *testing.T, s store.Store) {
	// Each field orders the records differently, with no ties.
	recs := []*store.Record{
		rec(labspace.KindWorkspace, "b", withPhase("Running"), createdAt(at(3*time.Second)), updatedAt(at(1))),
		rec(labspace.KindWorkspace, "d", withPhase("Failed"), createdAt(at(1)), updatedAt(at(3))),
		rec(labspace.KindWorkspace, "a", withPhase("Stopped"), createdAt(at(2)), updatedAt(at(time.Hour))),
		rec(labspace.KindWorkspace, "c", withPhase("Pending"), createdAt(at(-time.Hour)), updatedAt(at(2))),
	}
	insert(t, s, recs...)
	want := map[string][]string{
		"":          {"a", "b", "c", "d"},
		"name":      {"a", "b", "c", "d"},
		"createdAt": {"c", "d", "a", "b"},
		"updatedAt": {"b", "c", "d", "a"},
		"phase":     {"d", "c", "b", "a"},
	}
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			w := slices.Clone(want[sortBy])
			if desc {
				slices.Reverse(w)
			}
			got, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc})
			if err != nil {
				t.Fatalf("sort %q desc %v: %v", sortBy, desc, err)
			}
			if !slices.Equal(names(got), w) {
				t.Errorf("sort %q desc %v = %q, want %q", sortBy, desc, names(got), w)
			}
		}
	}
}

func testListPagination(t *testing.T, s store.Store) {
	recs := tiedRecords(23)
	insert(t, s, recs...)
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			for _, limit := range []int{1, 5, 22, 23, 24} {
				t.Run(fmt.Sprintf("%s/desc=%v/limit=%d", sortBy, desc, limit), func(t *testing.T) {
					q := store.ListQuery{SortBy: sortBy, Desc: desc, Limit: limit}
					checkOrder(t, listAll(t, s, labspace.KindWorkspace, q), recs, sortBy, desc)
				})
			}
		}
	}
}

func testListPaginationAllTied(t *testing.T, s store.Store) {
	var recs []*store.Record
	for i := range 23 {
		recs = append(recs, rec(labspace.KindWorkspace, fmt.Sprintf("w%02d", i), withPhase("Running")))
	}
	insert(t, s, recs...)
	for _, sortBy := range []string{"createdAt", "updatedAt", "phase"} {
		for _, desc := range []bool{false, true} {
			q := store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 5}
			checkOrder(t, listAll(t, s, labspace.KindWorkspace, q), recs, sortBy, desc)
		}
	}
}

func testListPaginationFiltered(t *testing.T, s store.Store) {
	recs := tiedRecords(23)
	insert(t, s, recs...)
	insert(t, s, rec(labspace.KindEnvironment, "w00")) // another kind: never listed
	var want []*store.Record
	for _, r := range recs {
		if r.Phase == "Running" && r.Scope.Name == "p1" {
			want = append(want, r)
		}
	}
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			q := store.ListQuery{Scopes: []labspace.Scope{labspace.ProjectScope("p1")}, Phase: "Running",
				SortBy: sortBy, Desc: desc, Limit: 2}
			checkOrder(t, listAll(t, s, labspace.KindWorkspace, q), want, sortBy, desc)
		}
	}
}

func testListLimits(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := range 1001 {
			if err := tx.Insert(rec(labspace.KindEnvironment, fmt.Sprintf("e%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tc := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {7, 7}, {1000, 1000}, {1001, 1000}, {5000, 1000}} {
		got, next, err := list(t, s, labspace.KindEnvironment, store.ListQuery{Limit: tc.limit})
		if err != nil {
			t.Fatalf("limit %d: %v", tc.limit, err)
		}
		if len(got) != tc.want || next == "" {
			t.Errorf("limit %d: %d records, continue %q; want %d and a continue token", tc.limit, len(got), next, tc.want)
		}
	}
}

func testListBadQuery(t *testing.T, s store.Store) {
	insert(t, s, tiedRecords(6)...)
	_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: "secret"})
	wantCode(t, err, labspace.EINVALID)
	_, _, err = list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: "created_at"})
	wantCode(t, err, labspace.EINVALID)
	for _, sortBy := range sortFields {
		for _, token := range []string{"garbage", "!!!", "bm90IGpzb24", "%%%%", "eyJ2IjoiYSJ9!"} {
			_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Continue: token, Limit: 2})
			if labspace.ErrorCode(err) != labspace.EINVALID {
				t.Errorf("sort %q continue %q: error %v, want code %q", sortBy, token, err, labspace.EINVALID)
			}
		}
	}
}

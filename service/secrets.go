package service

import (
	"context"
	"encoding/json"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/store"
)

// WorkloadInputs returns, for the controller only, what a runtime needs
// beside the workspace to start it: its project's namespace and the
// credentials it uses, opened. Values are read at each start, so a
// rotated password reaches the next one.
func (s *Service) WorkloadInputs(ctx context.Context, w *labspace.Workspace) (*runtime.Inputs, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	out := &runtime.Inputs{ByID: map[string]runtime.Credential{}, ByName: map[string]runtime.Credential{}}
	err := s.store.View(ctx, func(tx store.Tx) error {
		prec, err := find(tx, labspace.KindProject, w.Project())
		if err != nil {
			return err
		}
		var p labspace.Project
		if err := store.Decode(prec, &p); err != nil {
			return err
		}
		out.Namespace = p.Spec.Namespace
		chain, err := scopeChain(tx, w.Scope)
		if err != nil {
			return err
		}
		for _, e := range w.Spec.Env {
			if e.Credential == nil || e.Credential.ID == "" {
				continue
			}
			rec, err := tx.Get(labspace.KindCredential, e.Credential.ID)
			if err != nil {
				return err
			}
			if out.ByID[rec.ID], err = s.openCredential(rec); err != nil {
				return err
			}
		}
		for _, name := range dataSourceCredentials(w) {
			rec, err := nearest(tx, labspace.KindCredential, name, chain)
			if err != nil {
				return err
			}
			if out.ByName[name], err = s.openCredential(rec); err != nil {
				return err
			}
		}
		out.Registries, err = s.registries(tx, chain)
		return err
	})
	return out, err
}

// dataSourceCredentials lists the credential names w's data sources use.
func dataSourceCredentials(w *labspace.Workspace) []string {
	var names []string
	for _, d := range w.Spec.DataSources {
		switch {
		case d.Spec.Git != nil && d.Spec.Git.Credential != "":
			names = append(names, d.Spec.Git.Credential)
		case d.Spec.S3 != nil && d.Spec.S3.Credential != "":
			names = append(names, d.Spec.S3.Credential)
		case d.Spec.Secret != nil:
			names = append(names, d.Spec.Secret.Credential)
		}
	}
	return names
}

// nearest finds the object named name in the first scope of chain that has one.
func nearest(tx store.Tx, k labspace.Kind, name string, chain []labspace.Scope) (*store.Record, error) {
	for _, sc := range chain {
		if rec, err := tx.GetByName(k, sc, name); err == nil {
			return rec, nil
		}
	}
	return nil, labspace.Errorf(labspace.EUNPROCESSABLE, "No credential %q is usable in %s.", name, chain[0].Words())
}

func (s *Service) registries(tx store.Tx, chain []labspace.Scope) ([]runtime.Credential, error) {
	var out []runtime.Credential
	seen := map[string]bool{}
	for _, sc := range chain {
		recs, _, err := tx.List(labspace.KindCredential, store.ListQuery{Scopes: []labspace.Scope{sc}, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			c, err := s.openCredential(rec)
			if err != nil {
				return nil, err
			}
			if c.Type == labspace.CredDockerRegistry && !seen[c.Name] {
				seen[c.Name] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func (s *Service) openCredential(rec *store.Record) (runtime.Credential, error) {
	var c labspace.Credential
	if err := store.Decode(rec, &c); err != nil {
		return runtime.Credential{}, err
	}
	plain, err := s.box.Open(rec.Secret, []byte(rec.ID))
	if err != nil {
		return runtime.Credential{}, err
	}
	out := runtime.Credential{ID: rec.ID, Name: c.Name, Type: c.Spec.Type, Registry: c.Spec.Registry}
	return out, json.Unmarshal(plain, &out.Values)
}

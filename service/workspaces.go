package service

import (
	"context"
	"io"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// blocks are the references a template or a workspace request names.
type blocks struct {
	environment, compute string
	dataSources          []labspace.DataSourceUse
	env                  []labspace.EnvVar
}

// resolved is what the references resolved to.
type resolved struct {
	environment *labspace.Environment
	compute     *labspace.ComputeResource
	dataSources []labspace.ResolvedDataSource
	refs        []string
}

func ref(m *labspace.Meta) labspace.AssetRef {
	return labspace.AssetRef{ID: m.ID, Name: m.Name, Scope: m.Scope}
}

// resolveBlocks resolves every reference of b in chain, adding a field
// error (under prefix) for each one that does not resolve.
func (s *Service) resolveBlocks(tx store.Tx, a *labspace.Actor, b blocks, chain []labspace.Scope, prefix string, v *labspace.Invalid) resolved {
	var r resolved
	if rec := resolveAsset(tx, a, labspace.KindEnvironment, b.environment, chain, prefix+"environment", v); rec != nil {
		r.environment = &labspace.Environment{}
		if err := store.Decode(rec, r.environment); err != nil {
			v.Add(prefix+"environment", "cannot be read")
		}
		r.refs = append(r.refs, rec.ID)
	}
	if rec := resolveAsset(tx, a, labspace.KindComputeResource, b.compute, chain, prefix+"compute", v); rec != nil {
		r.compute = &labspace.ComputeResource{}
		if err := store.Decode(rec, r.compute); err != nil {
			v.Add(prefix+"compute", "cannot be read")
		}
		r.refs = append(r.refs, rec.ID)
	}
	mounts := map[string]bool{}
	for i, use := range b.dataSources {
		f := prefix + "dataSources[" + itoa(i) + "]"
		rec := resolveAsset(tx, a, labspace.KindDataSource, use.Name, chain, f+".name", v)
		if rec == nil {
			continue
		}
		var ds labspace.DataSource
		if err := store.Decode(rec, &ds); err != nil {
			v.Add(f, "cannot be read")
			continue
		}
		if use.MountPath != "" {
			ds.Spec.MountPath = use.MountPath
		}
		if mounts[ds.Spec.MountPath] {
			v.Add(f+".mountPath", "%s is already used by another data source", ds.Spec.MountPath)
		}
		mounts[ds.Spec.MountPath] = true
		r.dataSources = append(r.dataSources, labspace.ResolvedDataSource{From: ref(&ds.Meta), Spec: ds.Spec})
		r.refs = append(r.refs, rec.ID)
	}
	r.refs = append(r.refs, resolveEnvCredentials(tx, a, prefix+"env", b.env, chain, v)...)
	return r
}

// mergeEnv overlays vars onto base by name.
func mergeEnv(base, over []labspace.EnvVar) []labspace.EnvVar {
	out := append([]labspace.EnvVar(nil), base...)
	for _, o := range over {
		replaced := false
		for i := range out {
			if out[i].Name == o.Name {
				out[i], replaced = o, true
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}

// CreateWorkspace resolves the request into a self-contained workspace in
// project and records the intent to run it (or to keep it stopped).
func (s *Service) CreateWorkspace(ctx context.Context, project string, req *labspace.WorkspaceCreate) (*labspace.Workspace, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	scope := labspace.ProjectScope(project)
	if !canSee(a, labspace.KindWorkspace, scope) && !a.Can(labspace.VerbCreate, labspace.ResWorkspaces, scope) {
		return nil, labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
	}
	// The policy's defaults fill the request before it is checked.
	var policy *labspace.EffectivePolicy
	err = s.store.View(ctx, func(tx store.Tx) error {
		chain, err := scopeChain(tx, scope)
		if labspace.ErrorCode(err) == labspace.EUNPROCESSABLE {
			return labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
		} else if err != nil {
			return err
		}
		policy, err = effectivePolicy(tx, chain)
		return err
	})
	if err != nil {
		return nil, err
	}
	policy.DefaultRequest(req)
	var v labspace.Invalid
	req.Validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if !a.Can(labspace.VerbCreate, labspace.ResWorkspaces, scope) {
		return nil, labspace.Errorf(labspace.EFORBIDDEN, "Your role does not allow you to create workspaces in project %q.", project)
	}
	if err := a.CheckPrivileges(granted(req.PrivilegeUses(), policy), scope); err != nil {
		return nil, err
	}
	if req.DesiredPhase != labspace.PhaseStopped {
		if err := s.mayRun(ctx, a); err != nil {
			return nil, err
		}
	}
	w := &labspace.Workspace{Meta: labspace.Meta{Name: req.Name, Description: req.Description, Scope: scope}}
	s.stamp(&w.Meta, a)
	capacity, known, err := s.capacity.read(ctx)
	if err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		chain, err := scopeChain(tx, scope)
		if labspace.ErrorCode(err) == labspace.EUNPROCESSABLE {
			return labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
		} else if err != nil {
			return err
		}
		if policy, err = effectivePolicy(tx, chain); err != nil {
			return err
		}
		refs, err := s.buildSpec(tx, a, w, req, chain, policy)
		if err != nil {
			return err
		}
		if err := policy.Apply(w); err != nil {
			return err
		}
		if known {
			if err := feasible(w, capacity); err != nil {
				return err
			}
		}
		if err := withinWholeQuota(tx, w); err != nil {
			return err
		}
		w.DesiredPhase = labspace.PhaseRunning
		w.Status = labspace.WorkspaceStatus{Phase: labspace.PhaseCreating, PhaseReason: "Submitted",
			PhaseMessage: "Waiting for the lifecycle controller.", Conditions: []labspace.Condition{}}
		if req.DesiredPhase == labspace.PhaseStopped {
			w.DesiredPhase = labspace.PhaseStopped
			w.Status.Phase, w.Status.PhaseReason, w.Status.PhaseMessage = labspace.PhaseStopped, "CreatedStopped", ""
		}
		rec, err := store.Encode(w)
		if err != nil {
			return err
		}
		rec.Phase, rec.ActiveAt = string(w.Status.Phase), w.ActiveAt()
		if err := tx.Insert(rec); err != nil {
			return err
		}
		if err := tx.SetRefs(w.ID, refs); err != nil {
			return err
		}
		if err := tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: w.CreatedAt, Type: "Created",
			ToPhase: w.Status.Phase, Reason: w.Status.PhaseReason, Actor: a.Subject.Name}); err != nil {
			return err
		}
		return s.audit(ctx, tx, "create", &w.Meta, labspace.KindWorkspace)
	})
	if err != nil {
		return nil, err
	}
	s.lifecycle.Notify(w.ID)
	return w, nil
}

// buildSpec fills w.Spec from the request: template first, then the
// request's own blocks and overrides. It returns the ids w uses.
func (s *Service) buildSpec(tx store.Tx, a *labspace.Actor, w *labspace.Workspace, req *labspace.WorkspaceCreate, chain []labspace.Scope,
	policy *labspace.EffectivePolicy) ([]string, error) {
	var v labspace.Invalid
	b := blocks{environment: req.Environment, compute: req.Compute, dataSources: req.DataSources}
	var tmpl labspace.Template
	var refs []string
	if req.Template != "" {
		rec := resolveAsset(tx, a, labspace.KindTemplate, req.Template, chain, "template", &v)
		if rec == nil {
			return nil, v.ErrCode(labspace.EUNPROCESSABLE)
		}
		if err := store.Decode(rec, &tmpl); err != nil {
			return nil, err
		}
		refs = append(refs, rec.ID)
		w.Spec.Template = &labspace.AssetRef{ID: rec.ID, Name: rec.Name, Scope: rec.Scope}
		if b.environment == "" {
			b.environment = tmpl.Spec.Environment
		}
		if b.compute == "" {
			b.compute = tmpl.Spec.Compute
		}
		if b.dataSources == nil {
			b.dataSources = tmpl.Spec.DataSources
		}
		w.Spec.General = tmpl.Spec.General
	}
	b.dataSources = policy.Impose(b.dataSources)
	r := s.resolveBlocks(tx, a, b, chain, "", &v)
	if err := v.ErrCode(labspace.EUNPROCESSABLE); err != nil {
		return nil, err
	}
	env := r.environment.Spec
	w.Spec.Environment = labspace.ResolvedEnvironment{From: ref(&r.environment.Meta), Spec: env}
	if err := identityRunAs(tx, w, a.Subject.Name); err != nil {
		return nil, err
	}
	w.Spec.Compute = labspace.ResolvedCompute{From: ref(&r.compute.Meta), Spec: r.compute.Spec}
	if req.GPUDevices != nil {
		w.Spec.Compute.Spec.GPUDevices = *req.GPUDevices
		w.Spec.Compute.Spec.Validate("compute", &v) // a portion with several devices is refused here too
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	w.Spec.DataSources = r.dataSources
	if w.Spec.DataSources == nil {
		w.Spec.DataSources = []labspace.ResolvedDataSource{}
	}
	w.Spec.Command = firstSet(req.Command, tmpl.Spec.Command, env.Command)
	w.Spec.Args = firstSet(req.Args, tmpl.Spec.Args, env.Args)
	merged := mergeEnv(env.Env, tmpl.Spec.Env)
	refs = append(refs, resolveEnvCredentials(tx, a, "env", merged, chain, &v)...)
	for name, val := range req.Env {
		found := false
		for i := range merged {
			if merged[i].Name != name {
				continue
			}
			found = true
			if merged[i].Credential != nil {
				v.Add("env."+name, "comes from credential %q and cannot be set here", merged[i].Credential.Name)
			}
			// An empty value leaves a variable meant for the user unfilled.
			merged[i].Value, merged[i].FromUser = val, merged[i].FromUser && val == ""
		}
		if !found {
			merged = append(merged, labspace.EnvVar{Name: name, Value: val})
		}
	}
	for i := range merged {
		if merged[i].FromUser && merged[i].Value == "" {
			v.Add("env."+merged[i].Name, "is left for you to fill in: %s", orDefault(merged[i].Description, "give it a value"))
		}
		merged[i].FromUser = false
	}
	w.Spec.Env = merged
	g := &w.Spec.General
	if req.Preemptible != nil {
		g.Preemptible = *req.Preemptible
	}
	if req.NodePool != "" {
		g.NodePool = req.NodePool
	}
	g.Labels, g.Annotations = mergeMap(g.Labels, req.Labels), mergeMap(g.Annotations, req.Annotations)
	if err := v.ErrCode(labspace.EUNPROCESSABLE); err != nil {
		return nil, err
	}
	return append(refs, r.refs...), nil
}

func firstSet(lists ...[]string) []string {
	for _, l := range lists {
		if l != nil {
			return l
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func mergeMap(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// findWorkspace returns the workspace name in project, checking that the
// actor may see it (ENOTFOUND otherwise).
func findWorkspace(tx store.Tx, a *labspace.Actor, project, name string) (*labspace.Workspace, *store.Record, error) {
	scope := labspace.ProjectScope(project)
	if !canSee(a, labspace.KindWorkspace, scope) {
		return nil, nil, labspace.Errorf(labspace.ENOTFOUND, "Workspace %q not found in project %q.", name, project)
	}
	rec, err := tx.GetByName(labspace.KindWorkspace, scope, name)
	if err != nil {
		return nil, nil, notFound(err, "Workspace %q not found in project %q.", name, project)
	}
	var w labspace.Workspace
	return &w, rec, store.Decode(rec, &w)
}

// notFound words a not-found err for the caller; any other error (a
// transaction that lost a race and must run again, a lost connection) is
// passed on as it is, never turned into a 404.
func notFound(err error, format string, args ...any) error {
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		return labspace.Errorf(labspace.ENOTFOUND, format, args...)
	}
	return err
}

// GetWorkspace returns one workspace.
func (s *Service) GetWorkspace(ctx context.Context, project, name string) (*labspace.Workspace, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var w *labspace.Workspace
	err = s.store.View(ctx, func(tx store.Tx) error {
		w, _, err = findWorkspace(tx, a, project, name)
		return err
	})
	return w, err
}

// SetDesiredPhase records a start (Running), stop (Stopped) or delete
// (Deleted) request, with an event, and tells the lifecycle.
func (s *Service) SetDesiredPhase(ctx context.Context, project, name string, to labspace.Phase) (*labspace.Workspace, error) {
	defer s.workspacesChanged()
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	verb, action := labspace.VerbUpdate, map[labspace.Phase]string{labspace.PhaseRunning: "start",
		labspace.PhaseStopped: "stop", labspace.PhaseDeleted: "delete"}[to]
	if to == labspace.PhaseDeleted {
		verb = labspace.VerbDelete
	}
	w, err := s.changeWorkspace(ctx, a, project, name, action, func(w *labspace.Workspace) (*labspace.Event, error) {
		if !a.Can(verb, labspace.ResWorkspaces, w.Scope) {
			return nil, labspace.Errorf(labspace.EFORBIDDEN, "Your role does not allow you to %s workspaces in project %q.", action, project)
		}
		if to == labspace.PhaseRunning {
			if err := s.mayRun(ctx, a); err != nil {
				return nil, err
			}
		}
		eventType, err := w.RequestDesired(to)
		if err != nil {
			return nil, err
		}
		if to == labspace.PhaseRunning {
			if err := s.checkStart(ctx, w); err != nil {
				return nil, err
			}
			if err := s.refreshRunAs(ctx, w); err != nil {
				return nil, err
			}
		}
		w.DesiredPhase, w.StopCause, w.Status.StopNotice = to, nil, nil
		if to == labspace.PhaseRunning && (w.Status.Phase == labspace.PhaseFailed || w.Status.Phase == labspace.PhaseStopped) {
			// Queued again: a failed workspace is retried, a stopped one restarted.
			w.Status.Phase, w.Status.PhaseReason, w.Status.PhaseMessage = labspace.PhasePending, "StartRequested", "Waiting for admission."
		}
		return &labspace.Event{Type: eventType, Message: "Desired phase set to " + string(to) + "."}, nil
	})
	if err != nil {
		return nil, err
	}
	s.lifecycle.Notify(w.ID)
	return w, nil
}

// changeWorkspace applies edit to workspace name of project, as the actor
// sees it, in one transaction: saved against the version it read, audited
// as action, with the event edit returns (if any) in its history.
func (s *Service) changeWorkspace(ctx context.Context, a *labspace.Actor, project, name, action string,
	edit func(w *labspace.Workspace) (*labspace.Event, error)) (*labspace.Workspace, error) {
	var w *labspace.Workspace
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var rec *store.Record
		var err error
		if w, rec, err = findWorkspace(tx, a, project, name); err != nil {
			return err
		}
		w.UpdatedAt = s.now().UTC()
		from := w.Status.Phase
		ev, err := edit(w)
		// The caller's If-Match is checked once it is known to be allowed
		// (edit refuses first), and before what the change itself says.
		if perr := precondition(ctx, labspace.KindWorkspace, name, rec.RV); perr != nil && !denied(err) {
			return perr
		}
		if err != nil {
			return err
		}
		if err := s.saveWorkspace(tx, w, rec.RV); err != nil {
			return err
		}
		evs := []*labspace.Event{ev}
		if to := w.Status.Phase; to != from {
			// The timeline records every transition, this one too (a
			// stopped workspace queued again by its user's start).
			evs = append(evs, &labspace.Event{Type: "PhaseChanged", FromPhase: from, ToPhase: to,
				Reason: w.Status.PhaseReason, Message: w.Status.PhaseMessage})
		}
		for _, ev := range evs {
			if ev == nil {
				continue
			}
			ev.WorkspaceID, ev.Time, ev.Actor = w.ID, w.UpdatedAt, a.Subject.Name
			if err := tx.AddEvent(ev); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, action, &w.Meta, labspace.KindWorkspace)
	})
	return w, err
}

// WorkspaceEvents returns a workspace's history, oldest first.
func (s *Service) WorkspaceEvents(ctx context.Context, project, name string) ([]labspace.Event, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out []labspace.Event
	err = s.store.View(ctx, func(tx store.Tx) error {
		w, _, err := findWorkspace(tx, a, project, name)
		if err != nil {
			return err
		}
		out, err = tx.Events(w.ID)
		return err
	})
	return out, err
}

// WorkspaceLogs returns a workspace's output; with follow it stays open.
func (s *Service) WorkspaceLogs(ctx context.Context, project, name string, follow bool) (io.ReadCloser, error) {
	w, err := s.GetWorkspace(ctx, project, name)
	if err != nil {
		return nil, err
	}
	if s.logs == nil {
		return nil, labspace.Errorf(labspace.ENOTFOUND, "This server keeps no logs.")
	}
	return s.logs.Logs(ctx, w, follow)
}

package service

import (
	"context"
	"encoding/json"
	"math"
	"sort"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/metrics"
	"github.com/labspace/labspace/store"
)

// The admission ledger keeps, in the store, what the admitted workspaces
// of each project and of the whole host (or cluster) hold. Admission reads
// two small records instead of every admitted workspace, and every change
// of an admission updates them in the same transaction, so the ledger is
// exactly as true as the workspaces (on any number of replicas). It is
// rebuilt from the workspaces when missing, and when the controller starts.

const kindLedger labspace.Kind = "admission-ledger"

const hostLedger = "host"

// ledgerDoc is one ledger record.
type ledgerDoc struct {
	GPUs     float64 `json:"gpus"`
	MilliCPU int64   `json:"milliCPU"`
	Memory   int64   `json:"memory"`
	Devices  []int   `json:"devices,omitempty"`
}

func projectLedger(project string) string { return "project/" + project }

func (d *ledgerDoc) usage() usage {
	u := usage{gpus: d.GPUs, milliCPU: d.MilliCPU, memory: d.Memory, devices: map[int]bool{}}
	for _, dev := range d.Devices {
		u.devices[dev] = true
	}
	return u
}

func docOf(u usage) ledgerDoc {
	d := ledgerDoc{GPUs: math.Round(u.gpus*1e6) / 1e6, MilliCPU: u.milliCPU, Memory: u.memory}
	for dev, held := range u.devices {
		if held {
			d.Devices = append(d.Devices, dev)
		}
	}
	sort.Ints(d.Devices)
	return d
}

// readLedger returns the ledger with id; ok is false when there is none.
func readLedger(tx store.Tx, id string) (usage, *store.Record, bool, error) {
	rec, err := tx.Get(kindLedger, id)
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		return usage{devices: map[int]bool{}}, nil, false, nil
	}
	if err != nil {
		return usage{}, nil, false, err
	}
	var d ledgerDoc
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return usage{}, nil, false, err
	}
	return d.usage(), rec, true, nil
}

func writeLedger(tx store.Tx, id string, rec *store.Record, u usage) error {
	data, err := json.Marshal(docOf(u))
	if err != nil {
		return err
	}
	if rec == nil {
		return tx.Insert(&store.Record{Kind: kindLedger, ID: id, Name: id, Scope: labspace.Global, Data: data})
	}
	rec.Data = data
	return tx.Update(rec)
}

// ledgerUsage returns what project and the host hold, rebuilding the
// ledger first when it is missing.
func (s *Service) ledgerUsage(tx store.Tx, project string) (inProject, onHost usage, err error) {
	onHost, _, ok, err := readLedger(tx, hostLedger)
	if err != nil {
		return inProject, onHost, err
	}
	if !ok {
		if err := s.rebuildLedger(tx); err != nil {
			return inProject, onHost, err
		}
		if onHost, _, _, err = readLedger(tx, hostLedger); err != nil {
			return inProject, onHost, err
		}
	}
	inProject, _, _, err = readLedger(tx, projectLedger(project))
	return inProject, onHost, err
}

// ledgerAdd adds (sign 1) or takes out (sign -1) w's share in its
// project's and the host's ledgers.
func (s *Service) ledgerAdd(tx store.Tx, w *labspace.Workspace, sign int64) error {
	for _, id := range []string{hostLedger, projectLedger(w.Project())} {
		u, rec, ok, err := readLedger(tx, id)
		if err != nil {
			return err
		}
		if !ok && id == hostLedger {
			// Built from the workspaces as they are in this transaction,
			// w's change included: callers save w first.
			return s.rebuildLedger(tx)
		}
		u.addSigned(w, sign)
		if err := writeLedger(tx, id, rec, u); err != nil {
			return err
		}
	}
	return nil
}

// rebuildLedger recomputes every ledger from the workspaces that hold an
// admission: projects without any get zero.
func (s *Service) rebuildLedger(tx store.Tx) error {
	holders, err := admitted(tx)
	if err != nil {
		return err
	}
	host := usage{devices: map[int]bool{}}
	projects := map[string]usage{}
	for i := range holders {
		w := &holders[i]
		host.add(w)
		u, ok := projects[w.Project()]
		if !ok {
			u.devices = map[int]bool{}
		}
		u.add(w)
		projects[w.Project()] = u
	}
	q := store.ListQuery{Limit: 1000}
	for {
		recs, next, err := tx.List(kindLedger, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := tx.Delete(kindLedger, r.ID); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		q.Continue = next
	}
	for p, u := range projects {
		if err := writeLedger(tx, projectLedger(p), nil, u); err != nil {
			return err
		}
	}
	return writeLedger(tx, hostLedger, nil, host)
}

// RebuildAdmissionLedger recomputes the ledger from the workspaces, for
// the controller when it starts.
func (s *Service) RebuildAdmissionLedger(ctx context.Context) error {
	if err := controllerOnly(ctx); err != nil {
		return err
	}
	return s.store.Update(ctx, s.rebuildLedger)
}

// ProjectAllocations reads, for the metrics, what every project's admitted
// workspaces hold (from the ledger) and what it deserves.
func (s *Service) ProjectAllocations(ctx context.Context) ([]metrics.Allocation, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	var out []metrics.Allocation
	err := s.store.View(ctx, func(tx store.Tx) error {
		for cont := "first"; cont != ""; {
			if cont == "first" {
				cont = ""
			}
			recs, next, err := tx.List(labspace.KindProject, store.ListQuery{Limit: 1000, Continue: cont})
			if err != nil {
				return err
			}
			for _, rec := range recs {
				var p labspace.Project
				if err := store.Decode(rec, &p); err != nil {
					return err
				}
				u, _, _, err := readLedger(tx, projectLedger(p.Name))
				if err != nil {
					return err
				}
				out = append(out, metrics.Allocation{Project: p.Name, Department: p.Scope.Name, GPUs: u.gpus,
					MilliCPU: u.milliCPU, Memory: u.memory, QuotaGPUs: p.Spec.Quota.GPUs})
			}
			cont = next
		}
		return nil
	})
	return out, err
}

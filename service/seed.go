package service

import (
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// seedBlocks are the building blocks a fresh install starts with, so that
// real work can start at once. The local runtime runs their commands on
// the host: Jupyter from Debian's jupyter-notebook package, and Python's
// own HTTP server, which needs nothing but python3. On Kubernetes the
// images run.
func seedBlocks() []labspace.Validator {
	g := labspace.Global
	meta := func(name, desc string) labspace.Meta { return labspace.Meta{Name: name, Description: desc, Scope: g} }
	return []labspace.Validator{
		&labspace.Environment{Meta: meta("jupyter", "Jupyter Notebook, reachable only through labspace's proxy (it sends the workspace's tool token)."),
			Spec: labspace.EnvironmentSpec{
				Image: "quay.io/jupyter/base-notebook:latest", ImagePullPolicy: labspace.PullIfNotPresent,
				Tools:   []labspace.Tool{{Name: "jupyter", Type: "jupyter-notebook", Port: 8888, Connection: labspace.ConnExternalURL}},
				Command: []string{"jupyter-notebook"},
				Args: []string{"--no-browser", "--ip=127.0.0.1", "--port=$(PORT)", "--NotebookApp.base_url=$(BASE_URL)",
					"--NotebookApp.password=", "--allow-root"},
				// Jupyter reads its token from the environment: not on the
				// command line, which every local user can read.
				Env: []labspace.EnvVar{{Name: "JUPYTER_TOKEN", Value: "$(LABSPACE_TOOL_TOKEN)"}},
			}},
		&labspace.Environment{Meta: meta("python-http", "Python's built-in web server, serving the workspace's home."),
			Spec: labspace.EnvironmentSpec{
				Image: "python:3-slim", ImagePullPolicy: labspace.PullIfNotPresent,
				Tools: []labspace.Tool{{Name: "web", Type: "custom", Port: 8000, Connection: labspace.ConnExternalURL,
					StripPrefix: true}},
				Command: []string{"python3"},
				Args:    []string{"-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"},
			}},
		&labspace.ComputeResource{Meta: meta("cpu-small", "1 core, 2 GiB"),
			Spec: labspace.ComputeSpec{CPURequest: "1", MemoryRequest: "2Gi", MemoryLimit: "2Gi"}},
		&labspace.ComputeResource{Meta: meta("cpu-medium", "4 cores, 16 GiB"),
			Spec: labspace.ComputeSpec{CPURequest: "4", MemoryRequest: "16Gi", MemoryLimit: "16Gi"}},
		&labspace.ComputeResource{Meta: meta("cpu-large", "16 cores, 64 GiB"),
			Spec: labspace.ComputeSpec{CPURequest: "16", MemoryRequest: "64Gi", MemoryLimit: "64Gi"}},
		&labspace.ComputeResource{Meta: meta("gpu-1", "1 GPU, 8 cores, 32 GiB, large /dev/shm"),
			Spec: labspace.ComputeSpec{GPUDevices: 1, CPURequest: "8", MemoryRequest: "32Gi", MemoryLimit: "32Gi", LargeShm: true}},
	}
}

// seed stores the seed building blocks that are not there yet.
func (s *Service) seed(tx store.Tx, system *labspace.Actor) error {
	for _, obj := range seedBlocks() {
		var v labspace.Invalid
		obj.Validate(&v)
		if err := v.Err(); err != nil {
			return err // a mistake in seedBlocks; a test catches it
		}
		m := obj.GetMeta()
		if _, err := tx.GetByName(obj.Kind(), m.Scope, m.Name); err == nil {
			continue
		}
		s.stamp(m, system)
		rec, err := store.Encode(obj)
		if err != nil {
			return err
		}
		if err := tx.Insert(rec); err != nil {
			return err
		}
	}
	return nil
}

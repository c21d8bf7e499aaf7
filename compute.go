package labspace

import "regexp"

// ComputeResource is a building block: the GPUs, CPU and memory a workspace gets.
type ComputeResource struct {
	Meta `json:"meta"`
	Spec ComputeSpec `json:"spec"`
}

func (*ComputeResource) Kind() Kind { return KindComputeResource }

// ComputeSpec carries every compute field of the reference.
type ComputeSpec struct {
	// GPUDevices is the number of whole GPUs, or 1 with a GPUPortion.
	GPUDevices int `json:"gpuDevices" example:"1"`
	// GPUPortion asks for part of one GPU, by percent or by memory.
	GPUPortion *GPUPortion `json:"gpuPortion,omitempty"`
	// CPU cores reserved, e.g. "2" or "500m".
	CPURequest string `json:"cpuRequest,omitempty" example:"2"`
	// CPU cores the workspace may use at most.
	CPULimit string `json:"cpuLimit,omitempty"`
	// Memory reserved, e.g. "16Gi".
	MemoryRequest string `json:"memoryRequest,omitempty" example:"16Gi"`
	// Memory the workspace may use at most.
	MemoryLimit string `json:"memoryLimit,omitempty"`
	// Mounts a large /dev/shm (for data loaders that share memory).
	LargeShm bool `json:"largeShm,omitempty"`
	// Other resources of the nodes, by Kubernetes name.
	ExtendedResources []ExtendedResource `json:"extendedResources,omitempty"`
}

// GPUPortion is a fraction of a single GPU.
type GPUPortion struct {
	Percent int    `json:"percent,omitempty"` // 1-99
	Memory  string `json:"memory,omitempty"`  // e.g. "8Gi"
}

// ExtendedResource is any other countable resource a node offers.
type ExtendedResource struct {
	// The resource's Kubernetes name, e.g. example.com/fpga.
	Name string `json:"name"`
	// How much of it, as a Kubernetes quantity.
	Quantity string `json:"quantity"`
}

var resourceName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// Validate checks the compute resource.
func (c *ComputeResource) Validate(v *Invalid) {
	ValidateMeta(&c.Meta, v)
	c.Spec.Validate("spec", v)
}

// Validate checks quantities, request <= limit, and the GPU portion rules.
func (s *ComputeSpec) Validate(prefix string, v *Invalid) {
	if s.GPUDevices < 0 || s.GPUDevices > MaxGPUs {
		v.Add(prefix+".gpuDevices", "must be between 0 and %d", MaxGPUs)
	}
	if p := s.GPUPortion; p != nil {
		if s.GPUDevices != 1 {
			v.Add(prefix+".gpuPortion", "a GPU portion needs exactly one GPU device (gpuDevices is %d)", s.GPUDevices)
		}
		switch {
		case p.Percent != 0 && p.Memory != "":
			v.Add(prefix+".gpuPortion", "set percent or memory, not both")
		case p.Percent == 0 && p.Memory == "":
			v.Add(prefix+".gpuPortion", "set percent or memory")
		case p.Percent != 0 && (p.Percent < 1 || p.Percent > 99):
			v.Add(prefix+".gpuPortion.percent", "must be between 1 and 99")
		case p.Memory != "":
			validateMemory(prefix+".gpuPortion.memory", p.Memory, v)
		}
	}
	cr := validateCPU(prefix+".cpuRequest", s.CPURequest, v)
	cl := validateCPU(prefix+".cpuLimit", s.CPULimit, v)
	if cr > 0 && cl > 0 && cl < cr {
		v.Add(prefix+".cpuLimit", "must not be below cpuRequest")
	}
	mr := validateMemory(prefix+".memoryRequest", s.MemoryRequest, v)
	ml := validateMemory(prefix+".memoryLimit", s.MemoryLimit, v)
	if mr > 0 && ml > 0 && ml < mr {
		v.Add(prefix+".memoryLimit", "must not be below memoryRequest")
	}
	if len(s.ExtendedResources) > 32 {
		v.Add(prefix+".extendedResources", "must have at most 32 items")
	}
	for i, r := range s.ExtendedResources {
		f := fieldIndex(prefix+".extendedResources", i)
		if !resourceName.MatchString(r.Name) || len(r.Name) > 253 {
			v.Add(f+".name", "must be a resource name such as example.com/fpga (got %q)", r.Name)
		}
		if n, ok := parseQuantity(r.Quantity); !ok || n <= 0 || n > 1e6 {
			v.Add(f+".quantity", "must be a positive quantity, at most 1000000 (got %q)", r.Quantity)
		}
	}
}

// HeldGPUs is how many devices a workspace holds: a portion takes a whole
// one, since no runtime shares GPUs yet (the Kubernetes pod requests one
// nvidia.com/gpu, the local runtime hands out whole devices). Quotas count
// this, never less than what is held.
func (s *ComputeSpec) HeldGPUs() float64 {
	if s.GPUPortion != nil {
		return 1
	}
	return float64(s.GPUDevices)
}

// GPUs is the number of GPUs the spec asks for, a fraction for a portion.
func (s *ComputeSpec) GPUs() float64 {
	if s.GPUPortion != nil && s.GPUPortion.Percent > 0 {
		return float64(s.GPUPortion.Percent) / 100
	}
	return float64(s.GPUDevices)
}

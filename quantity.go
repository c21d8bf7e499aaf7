package labspace

import (
	"math"
	"strconv"
	"strings"
)

// Limits on quantities: anything above is a typing mistake, not a request.
const (
	MaxMilliCPU    = 1_000_000 * 1000 // a million cores
	MaxMemoryBytes = 1 << 50          // 1 PiB
	MaxGPUs        = 1024
)

var binarySuffixes = map[string]float64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50}
var decimalSuffixes = map[string]float64{"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}

// parseQuantity reads a Kubernetes-style quantity ("500m", "2", "16Gi",
// "1.5G") as a float. Exponents are refused: "1e30" is never meant.
func parseQuantity(s string) (float64, bool) {
	if s == "" || len(s) > 32 {
		return 0, false
	}
	num, mult := s, 1.0
	for suf, m := range binarySuffixes {
		if strings.HasSuffix(s, suf) {
			num, mult = strings.TrimSuffix(s, suf), m
		}
	}
	if mult == 1 {
		for suf, m := range decimalSuffixes {
			if strings.HasSuffix(s, suf) {
				num, mult = strings.TrimSuffix(s, suf), m
			}
		}
		if strings.HasSuffix(s, "m") {
			num, mult = strings.TrimSuffix(s, "m"), 1e-3
		}
	}
	if num == "" || strings.ContainsAny(num, "eE+-_") {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f * mult, true
}

// MilliCPU parses a CPU quantity ("2", "500m") into millicores.
func MilliCPU(s string) (int64, bool) {
	f, ok := parseQuantity(s)
	if !ok || f*1000 > MaxMilliCPU {
		return 0, false
	}
	return int64(math.Ceil(f * 1000)), true
}

// MemoryBytes parses a memory quantity ("16Gi", "512M") into bytes.
func MemoryBytes(s string) (int64, bool) {
	f, ok := parseQuantity(s)
	if !ok || f > MaxMemoryBytes {
		return 0, false
	}
	return int64(math.Ceil(f)), true
}

// validateCPU adds an error when s is set and not a sane CPU quantity.
func validateCPU(field, s string, v *Invalid) int64 {
	if s == "" {
		return 0
	}
	n, ok := MilliCPU(s)
	if !ok {
		v.Add(field, "must be a CPU quantity such as \"2\" or \"500m\", at most a million cores (got %q)", s)
	}
	return n
}

// validateMemory adds an error when s is set and not a sane memory quantity.
func validateMemory(field, s string, v *Invalid) int64 {
	if s == "" {
		return 0
	}
	n, ok := MemoryBytes(s)
	if !ok {
		v.Add(field, "must be a memory quantity such as \"16Gi\" or \"512M\", at most 1Pi (got %q)", s)
	}
	return n
}

// Quantities written for people, in messages and pages.

// FormatMemory writes bytes as people read them: "0", "64Mi", "32Gi",
// "1.5Gi" (not "0.0Gi" or "64.0Gi").
func FormatMemory(b int64) string {
	const mi, gi = 1 << 20, 1 << 30
	switch {
	case b == 0:
		return "0"
	case b >= gi && b%gi == 0:
		return strconv.FormatInt(b/gi, 10) + "Gi"
	case b >= gi:
		return strconv.FormatFloat(float64(b)/gi, 'f', 1, 64) + "Gi"
	case b%mi == 0:
		return strconv.FormatInt(b/mi, 10) + "Mi"
	}
	return strconv.FormatFloat(float64(b)/mi, 'f', 1, 64) + "Mi"
}

// FormatCores writes millicores as cores with their unit: "1 core",
// "4 cores", "0.5 cores".
func FormatCores(milli int64) string {
	return Count(float64(milli)/1000, "core", "cores")
}

// Count writes n with the noun's singular or plural: "1 GPU", "2 GPUs",
// "0 GPUs".
func Count(n float64, one, many string) string {
	s := strconv.FormatFloat(n, 'g', -1, 64)
	if n == 1 {
		return s + " " + one
	}
	return s + " " + many
}

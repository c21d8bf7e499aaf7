//go:build tools

// Package tools pins the Kubernetes control plane that labspace's tests run
// against; tools/build compiles it into a cache folder outside the repository.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)

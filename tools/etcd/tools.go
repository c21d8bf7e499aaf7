//go:build tools

// Package tools pins the etcd that labspace's Kubernetes tests run on;
// tools/build compiles it into a cache folder outside the repository.
package tools

import _ "go.etcd.io/etcd/server/v3"

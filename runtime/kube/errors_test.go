package kube

import (
	"errors"
	"testing"

	"github.com/labspace/labspace"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Only refusals that cannot heal fail a workspace; the rest are retried.
func TestRefusalSortsWhatHeals(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	forbidden := func(msg string) error { return apierrors.NewForbidden(pods, "ws-1", errors.New(msg)) }
	cases := []struct {
		name string
		err  error
		fail bool
	}{
		{"conflict", apierrors.NewConflict(pods, "ws-1", errors.New("the object has been modified")), false},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), false},
		{"internal", apierrors.NewInternalError(errors.New("etcd leader changed")), false},
		{"unavailable", apierrors.NewServiceUnavailable("restarting"), false},
		{"timeout", apierrors.NewTimeoutError("request did not complete", 1), false},
		{"server timeout", apierrors.NewServerTimeout(pods, "create", 1), false},
		{"network", errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), false},
		{"namespace missing", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "labspace-p"), false},
		{"service account", forbidden("error looking up service account labspace-p/default: serviceaccount \"default\" not found"), false},
		{"namespace terminating", forbidden("unable to create new content in namespace labspace-p because it is being terminated"), false},
		{"quota", forbidden("exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=8, limited: requests.cpu=8"), false},
		{"rbac", forbidden(`User "labspace" cannot create resource "pods" in API group "" in the namespace "labspace-p"`), false},
		{"pod security", forbidden(`violates PodSecurity "restricted:latest": runAsNonRoot != true`), true},
		{"limit range", forbidden("maximum cpu usage per Container is 2, but limit is 4"), true},
		{"webhook", forbidden(`admission webhook "policy.example.com" denied the request: images must come from registry.example.com`), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "ws-1", field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "bad")}), true},
		{"bad request", apierrors.NewBadRequest("the namespace of the object does not match"), true},
	}
	for _, tc := range cases {
		got := refusal(tc.err)
		if fails := labspace.ErrorCode(got) == labspace.EUNPROCESSABLE; fails != tc.fail {
			t.Errorf("%s: fails the workspace = %v, want %v (%v)", tc.name, fails, tc.fail, tc.err)
		}
	}
	if refusal(nil) != nil {
		t.Error("no error became one")
	}
}

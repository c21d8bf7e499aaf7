package kube

import (
	"strings"

	"github.com/labspace/labspace"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// refusal sorts what the cluster answered a start: a refusal that cannot
// heal by itself (an invalid object, a policy that forbids it) becomes
// EUNPROCESSABLE, and the workspace fails with the cluster's words;
// anything else (conflicts, throttling, 5xx, timeouts, objects that
// appear shortly) is returned as it is, and the controller tries again
// with backoff, showing the reason on the workspace meanwhile.
func refusal(err error) error {
	if err == nil || !permanent(err) {
		return err
	}
	return labspace.Errorf(labspace.EUNPROCESSABLE, "Kubernetes refused the workspace: %s", err.Error())
}

// healing are the refusals (403) that mend without anyone changing the
// workspace: the namespace's default service account not made yet, a
// namespace still being deleted, a ResourceQuota full for now, labspace's
// own role not granted yet.
var healing = []string{"error looking up service account", "is being terminated", "exceeded quota", `" cannot `}

func permanent(err error) bool {
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return true
	case apierrors.IsForbidden(err):
		msg := err.Error()
		for _, h := range healing {
			if strings.Contains(msg, h) {
				return false
			}
		}
		return true
	}
	return false
}

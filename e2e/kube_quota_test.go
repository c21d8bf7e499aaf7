package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/labspace/labspace/runtime/kube/kubetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A request no node could ever hold is refused at creation (422, with the
// reason); one the cluster cannot place now is Pending with the
// scheduler's words; one over its project's quota is Pending without any
// pod; stopping a workspace admits the next.
func TestKubeUnschedulableAndOverQuota(t *testing.T) {
	s, c := kubeServer(t, "sched", "tight")
	kubeBlocks(s, freePort(t))
	s.project("sched", map[string]any{"gpus": 8})
	s.project("tight", map[string]any{"gpus": 2})

	code, raw := s.call("POST", "/api/v1/projects/sched/workspaces", s.admin,
		map[string]any{"name": "huge", "environment": "tool", "compute": "gpu-four"}, nil)
	if code != 422 || !strings.Contains(string(raw), `"compute"`) || !strings.Contains(string(raw), "largest node") {
		t.Errorf("4 GPUs where nodes have 2: %d %s", code, raw)
	}
	code, raw = s.call("POST", "/api/v1/projects/sched/workspaces", s.admin,
		map[string]any{"name": "nowhere", "environment": "tool", "compute": "one-cpu", "nodePool": "tpu"}, nil)
	if code != 422 || !strings.Contains(string(raw), `"nodePool"`) {
		t.Errorf("a node pool without nodes: %d %s", code, raw)
	}
	if len(s.workspaces("sched")) != 0 {
		t.Fatal("a refused request left a workspace")
	}

	s.kubeCreate("sched", "a", "gpu-two", nil)
	s.kubeCreate("sched", "b", "gpu-two", nil)
	s.waitPhase("sched", "a", "Running", converge)
	s.waitPhase("sched", "b", "Running", converge)
	s.kubeCreate("sched", "c", "gpu-two", nil)
	w := s.waitPhase("sched", "c", "Pending", converge)
	waitFor(t, "the scheduler's message", converge, func() bool {
		s.must(200, "GET", "/api/v1/projects/sched/workspaces/c", s.admin, nil, &w)
		return w.Status.PhaseReason == "Unschedulable" && strings.Contains(w.Status.PhaseMessage, "Insufficient nvidia.com/gpu")
	})
	s.must(202, "POST", "/api/v1/projects/sched/workspaces/a/stop", s.admin, nil, nil)
	s.waitPhase("sched", "c", "Running", converge)
	s.waitPhase("sched", "a", "Stopped", converge)

	// Quota: project tight deserves 2 GPUs. With c stopped, b of sched
	// holds 2 of the cluster's 4: GPUs are free, the quota alone says no.
	s.must(202, "POST", "/api/v1/projects/sched/workspaces/c/stop", s.admin, nil, nil)
	s.waitPhase("sched", "c", "Stopped", converge)
	s.kubeCreate("tight", "first", "gpu-two", nil)
	s.waitPhase("tight", "first", "Running", converge)
	second := s.kubeCreate("tight", "second", "gpu-two", nil)
	w = s.waitPhase("tight", "second", "Pending", converge)
	if w.Status.PhaseReason != "NonPreemptibleOverQuota" {
		t.Errorf("over quota: %s: %s", w.Status.PhaseReason, w.Status.PhaseMessage)
	}
	if n := len(pods(t, c, "labspace-tight", second.Meta.ID)); n != 0 {
		t.Errorf("%d pods for a workspace over quota", n)
	}
	s.must(202, "POST", "/api/v1/projects/tight/workspaces/first/stop", s.admin, nil, nil)
	s.waitPhase("tight", "second", "Running", converge)
}

// 100 starts at once in a project that deserves 10 CPU cores, 1 core each:
// exactly 10 pods exist, the rest wait Pending with the reason.
func TestKubeConcurrentStartsNeverPassTheQuota(t *testing.T) {
	s, c := kubeServer(t, "crowd")
	kubeBlocks(s, freePort(t))
	s.project("crowd", map[string]any{"gpus": 0, "cpu": "10"})
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			code, raw := s.call("POST", "/api/v1/projects/crowd/workspaces", s.admin,
				map[string]any{"name": fmt.Sprintf("w%d", i), "environment": "tool", "compute": "one-cpu"}, nil)
			if code != 201 {
				t.Errorf("create: %d %s", code, raw)
			}
		}(i)
	}
	wg.Wait()
	count := func() (running, overQuota int) {
		for _, w := range s.workspaces("crowd") {
			switch {
			case w.Status.Phase == "Running":
				running++
			case w.Status.Phase == "Pending" && w.Status.PhaseReason == "NonPreemptibleOverQuota":
				overQuota++
			}
		}
		return running, overQuota
	}
	waitFor(t, "10 Running and 90 Pending", converge, func() bool {
		r, o := count()
		return r == 10 && o == 90
	})
	if n := len(pods(t, c, "labspace-crowd", "")); n != 10 {
		t.Errorf("%d pods, want 10", n)
	}
}

// A preemptible workspace may use GPUs beyond its project's quota; when
// another project wants its deserved share back, the newest such
// workspace is stopped, with an event saying why.
func TestKubePreemption(t *testing.T) {
	s, _ := kubeServer(t, "spare", "owner")
	kubeBlocks(s, freePort(t))
	s.project("spare", map[string]any{"gpus": 0, "overQuota": true})
	s.project("owner", map[string]any{"gpus": 2})
	s.kubeCreate("spare", "old", "gpu-two", map[string]any{"preemptible": true})
	s.waitPhase("spare", "old", "Running", converge)
	s.kubeCreate("spare", "new", "gpu-two", map[string]any{"preemptible": true})
	s.waitPhase("spare", "new", "Running", converge)
	// Not preemptible and more than spare's whole quota (0 GPUs): it could
	// never start, so it is refused at creation rather than left Pending.
	code, raw := s.call("POST", "/api/v1/projects/spare/workspaces", s.admin,
		map[string]any{"name": "firm", "environment": "tool", "compute": "gpu-two"}, nil)
	if code != 422 || !strings.Contains(string(raw), "whole quota") {
		t.Fatalf("create over the whole quota: %d %s, want 422", code, raw)
	}

	s.kubeCreate("owner", "mine", "gpu-two", nil)
	s.waitPhase("owner", "mine", "Running", converge)
	s.waitPhase("spare", "new", "Stopped", converge)
	s.waitPhase("spare", "old", "Running", converge)
	var events struct {
		Items []struct{ Type, Message string }
	}
	s.must(200, "GET", "/api/v1/projects/spare/workspaces/new/events", s.admin, nil, &events)
	found := false
	for _, e := range events.Items {
		found = found || e.Type == "Preempted" && strings.Contains(e.Message, "owner")
	}
	if !found {
		t.Errorf("no Preempted event naming project owner: %+v", events.Items)
	}
}

// Failures the kubelet reports end in Failed with the reason, and the pod
// is removed so that it holds nothing; a failed workspace can start again.
// kwok leaves held pods alone, so the test plays the kubelet.
func TestKubeFailuresShowTheReason(t *testing.T) {
	s, c := kubeServer(t, "broken")
	kubeBlocks(s, freePort(t))
	s.project("broken", map[string]any{"gpus": 0})
	hold := map[string]any{"annotations": map[string]string{kubetest.HoldAnnotation: "true"}}
	cases := []struct {
		name, reason string
		status       corev1.PodStatus
	}{
		{"pull", "ImagePullBackOff", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "workspace",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "example.com/tool:1"`}}}}}},
		{"oom", "OOMKilled", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "workspace", RestartCount: 1,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}}},
		{"crash", "CrashLoopBackOff", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "workspace", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2}}}}}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		w := s.kubeCreate("broken", tc.name, "one-cpu", hold)
		var pod corev1.Pod
		waitFor(t, "a scheduled pod for "+tc.name, converge, func() bool {
			ps := pods(t, c, "labspace-broken", w.Meta.ID)
			if len(ps) == 1 && ps[0].Spec.NodeName != "" {
				pod = ps[0]
				return true
			}
			return false
		})
		if w := s.waitPhase("broken", tc.name, "Initializing", converge); pod.Status.Phase != corev1.PodPending {
			t.Errorf("%s: a held pod is %s (%s)", tc.name, pod.Status.Phase, w.Status.PhaseReason)
		}
		pod.Status.Phase, pod.Status.ContainerStatuses = tc.status.Phase, tc.status.ContainerStatuses
		if _, err := c.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, &pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := s.waitPhase("broken", tc.name, "Failed", converge)
		if got.Status.PhaseReason != tc.reason {
			t.Errorf("%s: Failed with %s (%s), want %s", tc.name, got.Status.PhaseReason, got.Status.PhaseMessage, tc.reason)
		}
		waitFor(t, "the failed pod to go", converge, func() bool { return len(pods(t, c, "labspace-broken", w.Meta.ID)) == 0 })
		if got := s.waitPhase("broken", tc.name, "Failed", converge); got.Status.PhaseReason != tc.reason {
			t.Errorf("%s: after its pod went: %s, want Failed with %s", tc.name, got.Status.PhaseReason, tc.reason)
		}
	}
	s.must(202, "POST", "/api/v1/projects/broken/workspaces/pull/start", s.admin, nil, nil)
	s.waitPhase("broken", "pull", "Initializing", converge)
}

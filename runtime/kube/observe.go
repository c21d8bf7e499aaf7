package kube

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
)

// failing are the waiting reasons that will not mend by themselves: the
// workspace is Failed with the reason rather than Initializing forever.
var failing = map[string]bool{"ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true}

// observe turns what the cluster shows of w's pod into an observation.
// missing, when not empty, says what a running pod lost (its service, a
// volume's claim): the workspace is then Degraded.
func observe(w *labspace.Workspace, pod *corev1.Pod, missing string) runtime.Observation {
	if pod == nil {
		return runtime.Observation{State: runtime.Absent}
	}
	started := pod.CreationTimestamp.Time
	if pod.DeletionTimestamp != nil {
		return runtime.Observation{State: runtime.Stopping, Reason: "PodTerminating", Message: "Waiting for pod " + pod.Name + " to end.", StartedAt: started}
	}
	switch pod.Status.Phase {
	case corev1.PodFailed:
		reason, msg := pod.Status.Reason, pod.Status.Message
		if r, m := terminated(pod); r != "" {
			reason, msg = r, m
		}
		if reason == "" {
			reason = "PodFailed"
		}
		return runtime.Observation{State: runtime.Exited, Reason: reason, Message: msg, StartedAt: started}
	case corev1.PodSucceeded:
		return runtime.Observation{State: runtime.Exited, Reason: "Completed", Message: "The workspace's process ended with exit code 0.", StartedAt: started}
	}
	if r, m := broken(pod); r != "" {
		return runtime.Observation{State: runtime.Exited, Reason: r, Message: m, StartedAt: started}
	}
	if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		reason := c.Reason
		if reason == "" {
			reason = "Unschedulable"
		}
		return runtime.Observation{State: runtime.Waiting, Reason: reason, Message: c.Message, StartedAt: started}
	}
	if podReady(pod) {
		o := runtime.Observation{State: runtime.Ready, Tools: tools(w, pod), StartedAt: started}
		if missing != "" {
			o.State, o.Reason, o.Message = runtime.Degraded, "Degraded", missing
		}
		return o
	}
	reason, msg := "ContainersStarting", "Waiting for the containers of pod "+pod.Name+" to be ready."
	if pod.Spec.NodeName == "" {
		reason, msg = "Scheduling", "Waiting for the scheduler to place pod "+pod.Name+"."
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			reason, msg = cs.State.Waiting.Reason, strings.TrimSpace(cs.Name+": "+cs.State.Waiting.Message)
			break
		}
	}
	return runtime.Observation{State: runtime.Starting, Reason: reason, Message: msg, StartedAt: started}
}

// broken finds a container stuck for good: a failing waiting reason, or
// a last run killed for want of memory.
func broken(pod *corev1.Pod) (string, string) {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == "OOMKilled" {
			return "OOMKilled", fmt.Sprintf("Container %s ran out of memory and was killed (exit code %d).", cs.Name, t.ExitCode)
		}
		if t := cs.State.Terminated; t != nil && t.Reason == "OOMKilled" {
			return "OOMKilled", fmt.Sprintf("Container %s ran out of memory and was killed (exit code %d).", cs.Name, t.ExitCode)
		}
		if wt := cs.State.Waiting; wt != nil && failing[wt.Reason] {
			msg := wt.Message
			if t := cs.LastTerminationState.Terminated; t != nil && wt.Reason == "CrashLoopBackOff" {
				msg = fmt.Sprintf("Container %s keeps exiting (last: %s, exit code %d). %s", cs.Name, t.Reason, t.ExitCode, t.Message)
			}
			return wt.Reason, strings.TrimSpace(msg)
		}
	}
	return "", ""
}

// terminated is the reason and message of a failed pod's first ended container.
func terminated(pod *corev1.Pod) (string, string) {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return t.Reason, strings.TrimSpace(fmt.Sprintf("Container %s exited with code %d. %s", cs.Name, t.ExitCode, t.Message))
		}
	}
	return "", ""
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// tools maps each listening tool to the pod's address, where the proxy
// forwards (the proxy runs where pod addresses route: in the cluster).
func tools(w *labspace.Workspace, pod *corev1.Pod) map[string]string {
	if pod.Status.PodIP == "" {
		return nil
	}
	out := map[string]string{}
	for _, t := range w.Spec.Environment.Spec.Tools {
		if t.Port > 0 {
			out[t.Name] = "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(t.Port))
		}
	}
	return out
}

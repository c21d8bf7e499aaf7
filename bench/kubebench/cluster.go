package kubebench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/runtime/kube/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Drop says how DropNamespaces waits.
type Drop struct {
	Within time.Duration // for the pods (with PodsFirst) and then the namespaces to be gone
	Every  time.Duration // how often to look
	// PodsFirst waits until the pods are gone before deleting the
	// namespaces, so that the namespace controller finds none left.
	PodsFirst bool
}

// DropNamespaces deletes the namespaces with everything in them, pods
// first and at once (no grace), and waits until every one is gone, so that
// what runs next finds the cluster as what ran before did.
func DropNamespaces(ctx context.Context, c *kubetest.Cluster, names []string, d Drop) error {
	zero := int64(0)
	err := Parallel(len(names), 8, func(i int) error {
		pods := c.Client.CoreV1().Pods(names[i])
		if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
			return fmt.Errorf("delete the pods of %s: %w", names[i], err)
		}
		if !d.PodsFirst {
			return nil
		}
		err := Poll(d.Within, d.Every, func() (bool, error) {
			list, err := pods.List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil && len(list.Items) == 0, err
		})
		if err != nil {
			return fmt.Errorf("pods of %s: %w", names[i], err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = Parallel(len(names), 8, func(i int) error {
		err := c.Client.CoreV1().Namespaces().Delete(ctx, names[i], metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	left := 0
	err = Poll(d.Within, d.Every, func() (bool, error) {
		left = 0
		for _, ns := range names {
			_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err == nil {
				left++
			} else if !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return left == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%d namespaces left: %w", left, err)
	}
	return nil
}

// Quiet waits, up to within, until the control plane has used under cores
// for a whole window, so that no timed part starts while what came before
// (a clean-up, the cluster's start) still keeps it busy.
func Quiet(c *kubetest.Cluster, window time.Duration, cores float64, within time.Duration) {
	for range int(within / window) {
		before := CPUByProc(c.Pids())
		time.Sleep(window)
		var used time.Duration
		for name, t := range CPUByProc(c.Pids()) {
			used += t - before[name]
		}
		if used < time.Duration(cores*float64(window)) {
			return
		}
	}
	benchkit.Progress("the control plane is still busy; going on")
}

// Poll checks cond every `every` until it holds or within has passed.
// Only set-up and clean-up poll the API server: no timed part does.
func Poll(within, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", within)
		}
		time.Sleep(every)
	}
}

// Parallel calls fn(0..n-1) from clients goroutines; it returns the first error.
func Parallel(n, clients int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, clients)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range next {
				// After a failure the rest is drained, not sent.
				if failed.Load() {
					continue
				}
				if err := fn(i); err != nil {
					failed.Store(true)
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

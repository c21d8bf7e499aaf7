package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labspace/labspace/runtime/kube/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rates is a configuration of the control plane's components.
type rates struct {
	name  string
	tuned bool
}

var rateSettings = map[string][]rates{
	"default": {{"default", false}},
	"tuned":   {{"tuned", true}},
	"both":    {{"default", false}, {"tuned", true}},
}

// describe says what the setting changes, for the report.
func (r rates) describe() string {
	if r.tuned {
		return "Tuned component rates (scheduler and controller manager 500 requests/s, API server 2000 requests in flight)"
	}
	return "Default component rates, as clusters ship (scheduler 50, controller manager 20 requests/s)"
}

// startCluster starts a fresh control plane in dir with the rates r.
func startCluster(ctx context.Context, dir string, r rates) (*kubetest.Cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return kubetest.StartWith(ctx, dir, kubetest.Options{TunedRates: r.tuned})
}

// dropNamespace deletes ns with everything in it and waits until it is
// gone, so that the next round finds the cluster as this one did. Both
// sides clean up this way: pods first, at once (no grace), then the rest.
func dropNamespace(ctx context.Context, c *kubetest.Cluster, ns string) error {
	zero := int64(0)
	pods := c.Client.CoreV1().Pods(ns)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("delete the pods of %s: %w", ns, err)
	}
	err := poll(3*time.Minute, func() (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil && len(list.Items) == 0, err
	})
	if err != nil {
		return fmt.Errorf("pods of %s: %w", ns, err)
	}
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return poll(3*time.Minute, func() (bool, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// poll checks cond every 200ms until it holds. Only set-up and clean-up
// poll the API server: no timed part does.
func poll(within time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// parallel calls fn(0..n-1) from clients goroutines; it returns the first error.
func parallel(n, clients int, fn func(i int) error) error {
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

package service

import (
	"sync"
	"sync/atomic"
	"time"
)

// AccessCache keeps access decisions for at most a second, never past a
// given expiry, and drops them as soon as the service's AccessGeneration
// moves. With several replicas, a change made on another one is seen
// within that second.
type AccessCache[V any] struct {
	svc     *Service
	gen     *atomic.Uint64 // the generation its entries are valid for
	mu      sync.Mutex
	entries map[string]accessEntry[V]
}

type accessEntry[V any] struct {
	v     V
	gen   uint64
	until time.Time
}

const (
	accessCacheTTL  = time.Second
	accessCacheSize = 10000
)

// NewAccessCache returns an empty cache tied to svc's access generation.
func NewAccessCache[V any](svc *Service) *AccessCache[V] {
	return &AccessCache[V]{svc: svc, gen: &svc.accessGen, entries: map[string]accessEntry[V]{}}
}

// NewToolAccessCache is NewAccessCache for decisions about workspaces'
// tools, which also go when a workspace changes.
func NewToolAccessCache[V any](svc *Service) *AccessCache[V] {
	return &AccessCache[V]{svc: svc, gen: &svc.toolGen, entries: map[string]accessEntry[V]{}}
}

// Get returns the value for key while it is valid, and the generation to
// pass to Put when it is not (read before looking the value up, so that a
// change during the look-up invalidates what it found).
func (c *AccessCache[V]) Get(key string) (v V, gen uint64, ok bool) {
	gen = c.gen.Load()
	c.mu.Lock()
	e, found := c.entries[key]
	c.mu.Unlock()
	if found && e.gen == gen && c.svc.now().Before(e.until) {
		return e.v, gen, true
	}
	return v, gen, false
}

// Put keeps v for key until expires or a second from now, whichever is first.
func (c *AccessCache[V]) Put(key string, v V, gen uint64, expires time.Time) {
	until := c.svc.now().Add(accessCacheTTL)
	if expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= accessCacheSize {
		clear(c.entries)
	}
	c.entries[key] = accessEntry[V]{v: v, gen: gen, until: until}
}

// Package keyedlock holds a set of context-aware mutexes, one per key,
// created on demand and removed when free: the in-process half of the
// token stores' per-account locks.
//
// sync.Mutex cannot be abandoned when a context ends, and x/sync offers no
// keyed lock, hence this small type.
package keyedlock

import (
	"context"
	"sync"
)

// Set is a set of mutexes, one per key. The zero value is ready to use; a
// Set must not be copied after first use.
type Set struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	ch   chan struct{} // holds one value while locked
	refs int           // holders and waiters
}

// Lock locks key, waiting while another holder has it or until ctx ends
// (then it returns ctx's error). The returned function unlocks; calling it
// more than once is harmless.
func (s *Set) Lock(ctx context.Context, key string) (unlock func(), err error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]*entry)
	}
	l := s.m[key]
	if l == nil {
		l = &entry{ch: make(chan struct{}, 1)}
		s.m[key] = l
	}
	l.refs++
	s.mu.Unlock()

	release := func() {
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.m, key)
		}
		s.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.ch
			release()
		})
	}, nil
}

// Len returns the number of keys locked or waited for.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

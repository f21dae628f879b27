package keyedlock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestExclusionPerKey(t *testing.T) {
	var s Set
	ctx := context.Background()
	var mu sync.Mutex
	inside := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		key := []string{"a", "b"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := s.Lock(ctx, key)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside[key]++
			if inside[key] > 1 {
				t.Errorf("two holders of %q", key)
			}
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if n := s.Len(); n != 0 {
		t.Fatalf("%d keys left after every unlock", n)
	}
}

func TestOtherKeysDoNotWait(t *testing.T) {
	var s Set
	unlockA, err := s.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	unlockB, err := s.Lock(ctx, "b")
	if err != nil {
		t.Fatalf("b waited for a: %v", err)
	}
	unlockB()
}

func TestWaiterLeavesOnItsContext(t *testing.T) {
	var s Set
	unlock, err := s.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Lock(ctx, "a")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: %v, want context.Canceled", err)
	}
	unlock()
	unlock() // a second call is harmless
	if n := s.Len(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	// The key is free again.
	u, err := s.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	u()
}

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package providers

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// tryLockOSFile takes an exclusive flock(2) on f without blocking. It
// reports false when another open file description holds it.
func tryLockOSFile(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		default:
			return false, err
		}
	}
}

func unlockOSFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("providers: syncing token directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("providers: syncing token directory: %w", err)
	}
	return nil
}

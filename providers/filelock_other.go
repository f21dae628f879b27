//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package providers

import "os"

// tryLockOSFile has no cross-process lock on this platform: FileStore.Lock
// serialises the goroutines of one process only.
func tryLockOSFile(f *os.File) (bool, error) { return true, nil }

func unlockOSFile(f *os.File) {}

// syncDir is a no-op where directories cannot be fsynced.
func syncDir(dir string) error { return nil }

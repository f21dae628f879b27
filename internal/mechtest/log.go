package mechtest

import (
	"bytes"
	"strings"
	"sync"
)

// Log is a goroutine-safe writer for a protocol library's debug output.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns everything written so far, split at CRLF.
func (l *Log) Lines() []string {
	return strings.Split(l.String(), "\r\n")
}

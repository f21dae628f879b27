//go:build linux

package scram

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU returns the CPU time consumed so far by the calling OS thread.
func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSCRAMSHA256CPU is BenchmarkSCRAMSHA256Interleaved measured in
// CPU time of the benchmark's (locked) thread rather than wall time, so
// that other processes competing for the machine do not skew the ratio.
// Both the exchange and PBKDF2 run entirely on that thread.
func BenchmarkSCRAMSHA256CPU(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	exchange, kdf, n := interleave(b, func() time.Duration { return threadCPU(b) })
	b.ReportMetric(float64(exchange.Nanoseconds())/float64(n), "exchange-cpu-ns/op")
	b.ReportMetric(float64(kdf.Nanoseconds())/float64(n), "pbkdf2-cpu-ns/op")
	b.ReportMetric(float64(exchange)/float64(kdf), "ratio")
}

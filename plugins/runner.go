package plugins

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// procRunner runs a plugin process for go-plugin. go-plugin's own runner
// is internal to it and hands the plugin the host's standard input; this
// one gives it none (/dev/null), names the plugin by its file rather than
// by the descriptor it is executed through, and records the pid.
type procRunner struct {
	cmd            *exec.Cmd
	name           string
	stdout, stderr io.ReadCloser
	pid            atomic.Int64
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(cmd *exec.Cmd, name string) (*procRunner, error) {
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{cmd: cmd, name: name, stdout: stdout, stderr: stderr}, nil
}

// runnerFunc returns go-plugin's RunnerFunc: it runs cmd, with the
// environment go-plugin prepared (the handshake's variables) added to
// cmd's, and stores the runner in *r.
func runnerFunc(cmd *exec.Cmd, name string, r **procRunner) func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
		cmd.Env = append(cmd.Env, spec.Env...)
		pr, err := newProcRunner(cmd, name)
		*r = pr
		return pr, err
	}
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid.Store(int64(r.cmd.Process.Pid))
	return nil
}

func (r *procRunner) Wait(context.Context) error { return r.cmd.Wait() }

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.name }

func (r *procRunner) ID() string {
	if pid := r.pid.Load(); pid > 0 {
		return strconv.FormatInt(pid, 10)
	}
	return ""
}

func (r *procRunner) Diagnose(context.Context) string {
	return "the program is not a saslkit plugin, wrote to its standard output before serving, " +
		"or failed before the handshake (see its log)"
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

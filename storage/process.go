package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// shellPrelude is what Aptos puts before every command (docs/aptos-format.md
// §9.2), so a failing command, pipeline member or unset variable fails the
// call.
const shellPrelude = "set -o nounset -o errexit -o pipefail; "

const (
	// stderrTailSize is how much of a command's stderr an error keeps.
	stderrTailSize = 4 << 10
	// waitDelay bounds how long Wait waits for the output pipes after the
	// command exited or was killed, in case a descendant that left the
	// process group still holds them.
	waitDelay = 2 * time.Second
)

// CommandError is the error of a command adapter call: the command failed,
// was killed, its output broke the stdout contract, or the call was refused
// before running it. Err is the cause (an [*exec.ExitError], the context's
// error, a wrapped [aptos.ErrIllegalName], ...); errors.Is and errors.As see
// through it.
type CommandError struct {
	// Op is the config key of the command, such as "open_for_read".
	Op string
	// Target is the handle or file name the call was about, or "".
	Target string
	// Err is the cause.
	Err error
	// Stderr is the tail (at most 4 KiB) of what the command wrote to its
	// standard error, trimmed; "" when it wrote nothing or did not run.
	Stderr string
}

// Error returns "command adapter <op> [<target>]: <cause>[: <stderr tail>]".
func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString("command adapter ")
	b.WriteString(e.Op)
	if e.Target != "" {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.Target))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Stderr != "" {
		b.WriteString(": ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *CommandError) Unwrap() error { return e.Err }

// call describes one command run.
type call struct {
	op     string   // config key, for errors
	target string   // handle or name, for errors
	script string   // the configured command
	params []string // "KEY=value" call parameters; they win over everything
	stdin  bool     // pipe stdin; otherwise it reads from the null device
	stdout bool     // pipe stdout; otherwise it is discarded
}

// TimeoutError is the cause of a call that ran longer than its
// [Timeouts] allow: its process group was killed.
type TimeoutError struct {
	// After is the limit that ran out.
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return "no answer within " + e.After.String() + ", process group killed"
}

// Timeouts bound each command adapter call, from start to exit. A zero
// field means no limit for that kind of call.
type Timeouts struct {
	// List bounds list_metadata_files and list_metadata_backup_files.
	List time.Duration
	// Read bounds open_for_read: one download, possibly large.
	Read time.Duration
	// Write bounds save_metadata_line and backup_metadata_file.
	Write time.Duration
}

// Uniform returns Timeouts with d for every kind of call.
func Uniform(d time.Duration) Timeouts { return Timeouts{List: d, Read: d, Write: d} }

// limit is the timeout of the command named op.
func (t Timeouts) limit(op string) time.Duration {
	switch op {
	case cmdListMetadataFiles, cmdListMetadataBackupFiles:
		return t.List
	case cmdOpenForRead:
		return t.Read
	}
	return t.Write
}

// process is one running command.
type process struct {
	call
	parent context.Context
	run    context.Context // parent plus the call's timeout
	cancel context.CancelFunc
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr tailBuffer
}

// start runs c.script under bash as Aptos does. The command runs in its own
// process group, killed whole when ctx is done or the call is aborted.
func (a *CommandAdapter) start(ctx context.Context, c call) (*process, error) {
	runCtx, cancel := context.WithCancel(ctx)
	if d := a.Timeouts.limit(c.op); d > 0 {
		var cancelT context.CancelFunc
		runCtx, cancelT = context.WithTimeoutCause(runCtx, d, &TimeoutError{After: d})
		cancelOuter := cancel
		cancel = func() { cancelT(); cancelOuter() }
	}
	cmd := exec.CommandContext(runCtx, "bash", "-c", shellPrelude+c.script)
	env := append(os.Environ(), a.env...)
	cmd.Env = append(env, c.params...) // exec keeps the last of duplicate keys
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)
	p := &process{call: c, parent: ctx, run: runCtx, cancel: cancel, cmd: cmd}
	cmd.Stderr = &p.stderr
	if a.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&p.stderr, a.Stderr)
	}
	var err error
	if c.stdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			cancel()
			return nil, p.fail(err)
		}
	}
	if c.stdout {
		if p.stdout, err = cmd.StdoutPipe(); err != nil {
			cancel()
			return nil, p.fail(err)
		}
	} else {
		cmd.Stdout = io.Discard
	}
	if err := cmd.Start(); err != nil {
		cancel()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, p.fail(err)
	}
	return p, nil
}

// wait waits for the command to exit and checks its status. It must be
// called after stdout was read to EOF.
func (p *process) wait() error {
	err := p.cmd.Wait()
	timedOut := p.timedOut()
	p.cancel()
	if err == nil {
		return nil
	}
	if cerr := p.parent.Err(); cerr != nil {
		return p.fail(cerr)
	}
	if timedOut != nil {
		return p.fail(timedOut)
	}
	return p.fail(err)
}

// abort kills the command because of cause and waits for it. If the command
// had already failed on its own, that failure is the better explanation and
// is returned instead of cause.
func (p *process) abort(cause error) error {
	timedOut := p.timedOut()
	p.cancel()
	err := p.cmd.Wait()
	if cerr := p.parent.Err(); cerr != nil {
		return p.fail(cerr)
	}
	if timedOut != nil {
		return p.fail(timedOut)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() && exitErr.ExitCode() != 0 {
		return p.fail(err)
	}
	return p.fail(cause)
}

// timedOut returns the call's *TimeoutError if its timeout ran out, else
// nil. Call it before p.cancel, which would hide the cause.
func (p *process) timedOut() error {
	var te *TimeoutError
	if errors.As(context.Cause(p.run), &te) {
		return te
	}
	return nil
}

// fail wraps err in a CommandError for this call.
func (p *process) fail(err error) error {
	return &CommandError{Op: p.op, Target: p.target, Err: err, Stderr: p.stderr.String()}
}

// tailBuffer keeps the last stderrTailSize bytes written to it. exec writes
// to it from one goroutine and Wait orders that before any read.
type tailBuffer struct {
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= stderrTailSize {
		t.truncated = t.truncated || len(t.buf) > 0 || len(p) > stderrTailSize
		t.buf = append(t.buf[:0], p[len(p)-stderrTailSize:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - stderrTailSize; over > 0 {
		t.truncated = true
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept tail, trimmed, with "..." in front if earlier
// output was dropped.
func (t *tailBuffer) String() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.buf), ""))
	if t.truncated && s != "" {
		s = "..." + s
	}
	return s
}

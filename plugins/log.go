package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level of a plugin's trace messages (hclog's
// TRACE), one step below slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// maxLogLine bounds one line of plugin output. A longer line is dropped
// whole (a cut line could leave half a secret unrecognised) and a warning
// says so.
const maxLogLine = 64 << 10

// logWriter receives a plugin's output (stderr, and stdout and stderr
// forwarded after the handshake) and logs each line through log at its
// level, redacted. It is safe for concurrent use.
type logWriter struct {
	log     *slog.Logger
	secrets *secretSet
	stream  string     // "stderr" or "stdout"
	level   slog.Level // of unstructured lines

	mu      sync.Mutex
	buf     []byte
	long    int  // bytes of an overlong line dropped so far, 0 when none
	inPanic bool // a Go panic started: every unstructured line is an error
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		switch {
		case w.long > 0:
			w.long += len(chunk)
		case len(w.buf)+len(chunk) > maxLogLine:
			w.long = len(w.buf) + len(chunk)
			w.buf = w.buf[:0]
		default:
			w.buf = append(w.buf, chunk...)
		}
		if i < 0 {
			break
		}
		p = p[i+1:]
		w.flushLocked()
	}
	return n, nil
}

// Close logs a last line that had no newline.
func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 || w.long > 0 {
		w.flushLocked()
	}
	return nil
}

func (w *logWriter) flushLocked() {
	if w.long > 0 {
		w.log.Warn("plugin wrote an overlong line; dropped", "stream", w.stream, "bytes", w.long)
		w.long = 0
		return
	}
	line := bytes.TrimRight(w.buf, "\r")
	w.buf = w.buf[:0]
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	rec := parseLogLine(line, w.level)
	if rec.structured {
		w.inPanic = false
	} else if rec.panic || w.inPanic {
		w.inPanic = true
		rec.level = slog.LevelError
	}
	if !w.log.Enabled(context.Background(), rec.level) {
		return
	}
	args := make([]any, 0, 2+2*len(rec.attrs))
	args = append(args, "stream", w.stream)
	for _, a := range rec.attrs {
		args = append(args, a.key, w.secrets.redact(a.value))
	}
	w.log.Log(context.Background(), rec.level, w.secrets.redact(rec.msg), args...)
}

// logRecord is one parsed line of plugin output.
type logRecord struct {
	level      slog.Level
	msg        string
	attrs      []logAttr
	structured bool // an hclog JSON line
	panic      bool // the first line of a Go panic or fatal error
}

type logAttr struct{ key, value string }

// parseLogLine reads one line of plugin output: an hclog JSON line
// ({"@level":"info","@message":"…",…}), a line starting with an hclog level
// tag ("[WARN] …"), or free text logged at level def. It never fails and
// never keeps more than the line.
func parseLogLine(line []byte, def slog.Level) logRecord {
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	if len(line) > 0 && line[0] == '{' {
		var raw map[string]any
		if json.Unmarshal(line, &raw) == nil {
			if lv, ok := raw["@level"].(string); ok {
				msg, _ := raw["@message"].(string)
				rec := logRecord{level: hclogLevel(lv, def), msg: msg, structured: true}
				keys := make([]string, 0, len(raw))
				for k := range raw {
					if !strings.HasPrefix(k, "@") {
						keys = append(keys, k)
					}
				}
				sort.Strings(keys)
				for _, k := range keys {
					v := jsonText(raw[k])
					if secretKey(k) {
						v = "[REDACTED]"
					}
					rec.attrs = append(rec.attrs, logAttr{key: cleanKey(k), value: v})
				}
				return rec
			}
		}
	}
	s := string(line)
	for _, t := range []struct {
		tag   string
		level slog.Level
	}{{"[TRACE]", LevelTrace}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERROR]", slog.LevelError}} {
		if strings.HasPrefix(s, t.tag) {
			return logRecord{level: t.level, msg: strings.TrimSpace(s[len(t.tag):])}
		}
	}
	rec := logRecord{level: def, msg: s}
	if strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ") {
		rec.panic = true
	}
	return rec
}

// hclogLevel maps an hclog level name to slog's.
func hclogLevel(s string, def slog.Level) slog.Level {
	switch strings.ToLower(s) {
	case "trace":
		return LevelTrace
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error", "fatal":
		return slog.LevelError
	}
	return def
}

// cleanKey keeps a plugin's attribute key printable and short.
func cleanKey(k string) string {
	k = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '=' || r == ' ' || r == '"' {
			return '_'
		}
		return r
	}, k)
	if len(k) > 64 {
		k = k[:64]
	}
	if k == "" || k == "stream" {
		k = "_" + k
	}
	return k
}

// secretKey reports whether an attribute key names a secret: its value is
// dropped whatever it holds.
func secretKey(k string) bool { return reKeyValue.MatchString(k + "=x") }

// jsonText renders a JSON value as text for a log attribute.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// hclogAdapter passes go-plugin's own host-side messages (process started,
// exited) to slog, redacted. Its named children, which go-plugin uses to
// parse plugin stderr itself, are off: saslkit parses that output in
// logWriter, which bounds lines, redacts, and does not panic on unexpected
// JSON types.
type hclogAdapter struct {
	log     *slog.Logger
	secrets *secretSet
	args    []any
	off     bool
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func (h *hclogAdapter) level(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *hclogAdapter) Log(l hclog.Level, msg string, args ...any) {
	if h.off || l == hclog.Off || l == hclog.NoLevel {
		return
	}
	lv := h.level(l)
	if !h.log.Enabled(context.Background(), lv) {
		return
	}
	all := append(append([]any{}, h.args...), args...)
	out := make([]any, 0, len(all))
	for i := 0; i+1 < len(all); i += 2 {
		k := fmt.Sprint(all[i])
		switch k {
		case "timestamp":
			continue
		case "plugin", "path":
			k = "command" // go-plugin's name for the executable; "plugin" is the Plugin's name
		}
		v := h.secrets.redact(fmt.Sprint(all[i+1]))
		if secretKey(k) {
			v = "[REDACTED]"
		}
		out = append(out, cleanKey(k), v)
	}
	h.log.Log(context.Background(), lv, h.secrets.redact(msg), out...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *hclogAdapter) IsTrace() bool                 { return h.enabled(LevelTrace) }
func (h *hclogAdapter) IsDebug() bool                 { return h.enabled(slog.LevelDebug) }
func (h *hclogAdapter) IsInfo() bool                  { return h.enabled(slog.LevelInfo) }
func (h *hclogAdapter) IsWarn() bool                  { return h.enabled(slog.LevelWarn) }
func (h *hclogAdapter) IsError() bool                 { return h.enabled(slog.LevelError) }
func (h *hclogAdapter) ImpliedArgs() []any            { return h.args }
func (h *hclogAdapter) Name() string                  { return "" }
func (h *hclogAdapter) SetLevel(hclog.Level)          {}

func (h *hclogAdapter) enabled(l slog.Level) bool {
	return !h.off && h.log.Enabled(context.Background(), l)
}

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any{}, h.args...), args...)
	return &c
}

func (h *hclogAdapter) Named(string) hclog.Logger {
	c := *h
	c.off = true
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger { return h.Named(name) }

func (h *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case h.off:
		return hclog.Off
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	case h.IsError():
		return hclog.Error
	}
	return hclog.Off
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &logWriter{log: h.log, secrets: h.secrets, stream: "host", level: slog.LevelInfo}
}

// NewLogger returns a logger for code running inside a plugin. It writes
// JSON lines in hclog's format to the process's standard error, which the
// host reads, redacts and logs at the same level through its own logger.
// Records below level are dropped in the plugin; nil means slog.LevelInfo.
func NewLogger(level slog.Leveler) *slog.Logger {
	return slog.New(newHCLogHandler(os.Stderr, level))
}

func newHCLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				lv, _ := a.Value.Any().(slog.Level)
				name := "info"
				switch {
				case lv < slog.LevelDebug:
					name = "trace"
				case lv < slog.LevelInfo:
					name = "debug"
				case lv < slog.LevelWarn:
					name = "info"
				case lv < slog.LevelError:
					name = "warn"
				default:
					name = "error"
				}
				return slog.String("@level", name)
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

// discardLogger is the logger of a Plugin opened without Options.Logger.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

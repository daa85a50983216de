// Package logging builds the gateway's structured logger: JSON (or text)
// lines through log/slog, with every personnummer-shaped string masked
// before it is written, as a last line of defence behind the rule that code
// never logs one.
package logging

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// New returns a logger writing format ("json" or "text") at level.
func New(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(redactor{h: slog.NewTextHandler(w, opts), text: true})
	}
	// The access log's lines are written by Request without slog, on the
	// same writer; one lock keeps every line whole.
	lw := &lockedWriter{w: w}
	return slog.New(redactor{h: slog.NewJSONHandler(lw, opts), lines: lw})
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pnrLike matches personal identity numbers in their usual shapes:
// YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDD-NNNC, YYMMDD+NNNC and YYMMDDNNNC.
var pnrLike = regexp.MustCompile(`(^|[^0-9])((?:19|20|18)?[0-9]{2}[01][0-9][0-9]{2})[-+]?([0-9]{4})([^0-9]|$)`)

// Mask replaces every personnummer-shaped run of digits in s by its date
// part and XXXX.
func Mask(s string) string {
	if !hasDigitRun(s, 10) {
		return s
	}
	// The pattern consumes the character after a number, which a second
	// number right behind it needs as its start: repeat until nothing is
	// left (each pass masks at least one number, so this ends).
	for {
		m := pnrLike.ReplaceAllString(s, "${1}${2}-XXXX${4}")
		if m == s {
			return m
		}
		s = m
	}
}

func hasDigitRun(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			run++
			if run >= n {
				return true
			}
		case (c == '-' || c == '+') && run >= 6:
			// keep counting across the separator
		default:
			run = 0
		}
	}
	return false
}

// Redact wraps h, a JSON handler, so that messages and attributes are
// masked.
func Redact(h slog.Handler) slog.Handler { return redactor{h: h} }

type redactor struct {
	h slog.Handler
	// lines, when set, is the JSON handler's writer, for Request.
	lines *lockedWriter
	// text says h is a text handler, which renders values differently.
	text bool
}

func (r redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r redactor) Handle(ctx context.Context, rec slog.Record) error {
	if clean(rec) {
		return r.h.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, Mask(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a, r.text))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r redactor) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a, r.text)
	}
	return redactor{h: r.h.WithAttrs(masked), text: r.text}
}

func (r redactor) WithGroup(name string) slog.Handler {
	return redactor{h: r.h.WithGroup(name), text: r.text}
}

// clean reports whether rec has nothing to mask, so that it can be passed
// on without a copy (the access log's lines, nearly always).
func clean(rec slog.Record) bool {
	if hasDigitRun(rec.Message, 10) {
		return false
	}
	ok := true
	rec.Attrs(func(a slog.Attr) bool {
		ok = cleanAttr(a)
		return ok
	})
	return ok
}

func cleanAttr(a slog.Attr) bool {
	switch a.Value.Kind() {
	case slog.KindString:
		return !hasDigitRun(a.Value.String(), 10)
	case slog.KindInt64:
		return a.Value.Int64() < 1e9 && a.Value.Int64() > -1e9
	case slog.KindUint64:
		return a.Value.Uint64() < 1e9
	case slog.KindFloat64:
		return a.Value.Float64() < 1e9 && a.Value.Float64() > -1e9
	case slog.KindBool, slog.KindDuration, slog.KindTime:
		return true
	}
	return false // groups, errors, LogValuers and the rest take the full path
}

func maskAttr(a slog.Attr, text bool) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Mask(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = maskAttr(x, text)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64:
		// A number written as a number can be a personnummer too (a float
		// as JSON writes it: all digits, no exponent).
		n := v.String()
		if v.Kind() == slog.KindFloat64 {
			n = strconv.FormatFloat(v.Float64(), 'f', -1, 64)
		}
		if hasDigitRun(n, 10) {
			if m := Mask(n); m != n {
				return slog.String(a.Key, m)
			}
		}
		return a
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Mask(err.Error()))
		}
		// Any other value (a struct, a slice, a map, bytes) is written as
		// the handler likes unless the handler's rendering of it might
		// hold a number: then as masked text.
		if r, ok := rendering(v.Any(), text); ok && hasDigitRun(r, 10) {
			return slog.String(a.Key, Mask(r))
		}
		return a
	}
	return a
}

// rendering is the text the handler writes for x, as slog does it: JSON
// by encoding/json; text by MarshalText, as a string for []byte, else by
// %+v. A panic (a nil pointer with a value method) or a value JSON cannot
// encode (a cycle) gives false: slog then writes an error, not x.
func rendering(x any, text bool) (out string, ok bool) {
	defer func() {
		if recover() != nil {
			out, ok = "", false
		}
	}()
	if !text {
		b, err := json.Marshal(x)
		return string(b), err == nil
	}
	switch y := x.(type) {
	case encoding.TextMarshaler:
		b, err := y.MarshalText()
		return string(b), err == nil
	case []byte:
		return string(y), true
	}
	return fmt.Sprintf("%+v", x), true
}

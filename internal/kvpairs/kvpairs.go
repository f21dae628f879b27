package kvpairs

import (
	"errors"
	"unicode/utf8"
)

// Sep is kvsep, the byte that ends every key/value pair and the list.
const Sep = 0x01

// Faults the Scanner reports. Their text describes the fault and never
// quotes the message.
var (
	// ErrTruncated: the message ends before the final kvsep.
	ErrTruncated = errors.New("message truncated: missing kvsep")
	// ErrTrailing: bytes follow the kvsep that closes the list.
	ErrTrailing = errors.New("data after the final kvsep")
	// ErrNoEquals: a pair has no "=" after its key.
	ErrNoEquals = errors.New(`key/value pair without "="`)
	// ErrBadKey: a key is empty or holds a byte other than ALPHA.
	ErrBadKey = errors.New("key is not 1*ALPHA")
	// ErrBadValue: a value holds a byte the grammar forbids (a control
	// character such as NUL, or a byte outside US-ASCII where UTF-8 is not
	// allowed, or invalid UTF-8 where it is).
	ErrBadValue = errors.New("value holds a forbidden byte")
)

// Scanner reads "*kvpair kvsep" from a message, one pair per call to Next,
// without copying: Key and Value are sub-slices of the message.
//
//	sc := kvpairs.NewScanner(msg, false)
//	for sc.Next() {
//		use(sc.Key(), sc.Value())
//	}
//	if err := sc.Err(); err != nil { … }
//
// Next returns false at the closing kvsep (Err is then nil) or at the first
// fault (Err says which). A message must end exactly at the closing kvsep.
type Scanner struct {
	rest       []byte
	key, value []byte
	err        error
	done       bool
	utf8       bool
}

// NewScanner returns a Scanner over msg. With allowUTF8, values may also hold
// well-formed UTF-8 beyond US-ASCII (XOAUTH2's user=, which has no formal
// grammar, may carry an internationalised address); without it values follow
// RFC 7628 exactly.
func NewScanner(msg []byte, allowUTF8 bool) Scanner {
	return Scanner{rest: msg, utf8: allowUTF8}
}

// Next advances to the next pair and reports whether there is one.
func (s *Scanner) Next() bool {
	if s.done {
		return false
	}
	s.key, s.value = nil, nil
	if len(s.rest) == 0 {
		return s.fail(ErrTruncated)
	}
	if s.rest[0] == Sep {
		s.done = true
		if len(s.rest) != 1 {
			s.err = ErrTrailing
		}
		s.rest = nil
		return false
	}
	i := 0
	for i < len(s.rest) && isAlpha(s.rest[i]) {
		i++
	}
	switch {
	case i == len(s.rest):
		return s.fail(ErrTruncated)
	case s.rest[i] == '=' && i > 0:
	case s.rest[i] == Sep:
		return s.fail(ErrNoEquals)
	default:
		return s.fail(ErrBadKey)
	}
	key := s.rest[:i]
	rest := s.rest[i+1:]
	end := -1
	for j := 0; j < len(rest); {
		c := rest[j]
		if c == Sep {
			end = j
			break
		}
		if c < utf8.RuneSelf {
			if !valueByte(c) {
				return s.fail(ErrBadValue)
			}
			j++
			continue
		}
		if !s.utf8 {
			return s.fail(ErrBadValue)
		}
		r, n := utf8.DecodeRune(rest[j:])
		if r == utf8.RuneError && n <= 1 {
			return s.fail(ErrBadValue)
		}
		j += n
	}
	if end < 0 {
		return s.fail(ErrTruncated)
	}
	s.key, s.value = key, rest[:end]
	s.rest = rest[end+1:]
	return true
}

func (s *Scanner) fail(err error) bool {
	s.err, s.done, s.rest = err, true, nil
	return false
}

// Key returns the current pair's key.
func (s *Scanner) Key() []byte { return s.key }

// Value returns the current pair's value.
func (s *Scanner) Value() []byte { return s.value }

// Err returns the fault that stopped the scan, or nil.
func (s *Scanner) Err() error { return s.err }

// Finished reports whether the scan has ended cleanly: the closing kvsep was
// read and nothing followed it.
func (s *Scanner) Finished() bool { return s.done && s.err == nil }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// valueByte reports whether the US-ASCII byte c may appear in a value:
// VCHAR / SP / HTAB / CR / LF.
func valueByte(c byte) bool {
	return 0x20 <= c && c <= 0x7e || c == '\t' || c == '\r' || c == '\n'
}

// ValidValue reports whether s may be sent as a value: it follows the
// RFC 7628 value grammar (and, with allowUTF8, may also hold well-formed
// UTF-8), so it holds no kvsep and no NUL.
func ValidValue(s string, allowUTF8 bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !valueByte(c) {
				return false
			}
			i++
			continue
		}
		if !allowUTF8 {
			return false
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		i += n
	}
	return true
}

// Printable reports whether s is free of control characters: no byte below
// 0x20 and no DEL. It is stricter than ValidValue, which admits HTAB, CR and
// LF, and is used for names (user=, host=) where those make no sense.
func Printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

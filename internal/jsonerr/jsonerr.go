// Package jsonerr describes encoding/json errors without quoting the input:
// a *json.SyntaxError or *json.UnmarshalTypeError may otherwise echo part
// of a stored token into an error message.
package jsonerr

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Kind describes err, an error of json.Unmarshal or a json.Decoder, in
// words that never contain the input: "JSON syntax error at offset 12",
// "wrong JSON type for field \"expiry\"", "truncated JSON", "unknown field"
// (with Decoder.DisallowUnknownFields), or "invalid JSON".
func Kind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "JSON syntax error at offset " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "wrong JSON type for field " + strconv.Quote(te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field"
	default:
		return "invalid JSON"
	}
}

package kuma

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// bodyError is a request body that is not the contract's array of
// {"object": string}; it is answered 400.
type bodyError struct {
	detail string
}

func (e *bodyError) Error() string { return e.detail }

func badBody(format string, args ...any) error {
	return &bodyError{detail: fmt.Sprintf(format, args...)}
}

// objectKey is the one member of a request element the contract documents.
const objectKey = "object"

// parseBody reads the lookup body: a JSON array with at least one element,
// each an object with a string "object". It returns the objects in order.
//
// It reads token by token rather than into a slice of structs so that a
// duplicate "object" member, or one spelt in another case, is refused
// (encoding/json would keep the last and match names case-insensitively,
// letting a proxy that reads otherwise see a different request), a non-string
// value is refused instead of coerced, and the body is held once in memory,
// not twice. Other members are skipped: CyberTrace versions may send more,
// and KUMA's parser must not break on them. Errors are *bodyError, or
// *http.MaxBytesError when the body is over its bound.
func parseBody(r io.Reader) ([]string, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err, "the body is not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, badBody(`the body must be a JSON array of {"object": "<value>"} elements, got %s`, describe(tok))
	}
	var objects []string
	for dec.More() {
		obj, err := parseElement(dec, len(objects))
		if err != nil {
			return nil, err
		}
		objects = append(objects, obj)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, jsonError(err, "the array is malformed")
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, jsonError(err, "the body has data after the array")
		}
		return nil, badBody("the body has data after the array; send exactly one JSON array")
	}
	if len(objects) == 0 {
		return nil, badBody(`the array is empty; send at least one {"object": "<value>"} element`)
	}
	return objects, nil
}

// parseElement reads one {"object": string} element, the i-th.
func parseElement(dec *json.Decoder, i int) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", jsonError(err, fmt.Sprintf("element %d is malformed", i))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return "", badBody(`element %d must be an object {"object": "<value>"}, got %s`, i, describe(tok))
	}
	var (
		object string
		seen   bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", jsonError(err, fmt.Sprintf("element %d is malformed", i))
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		if key != objectKey && strings.EqualFold(key, objectKey) {
			// encoding/json, which many proxies use, would read "Object"
			// as "object"; refusing it keeps everyone reading one value.
			return "", badBody(`element %d has a member %q; the member is "object", in lower case`, i, key)
		}
		if key != objectKey {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", jsonError(err, fmt.Sprintf("element %d is malformed", i))
			}
			continue
		}
		if seen {
			return "", badBody(`element %d has "object" more than once; send it once`, i)
		}
		seen = true
		tok, err = dec.Token()
		if err != nil {
			return "", jsonError(err, fmt.Sprintf("element %d is malformed", i))
		}
		s, ok := tok.(string)
		if !ok {
			return "", badBody(`element %d: "object" must be a string, got %s`, i, describe(tok))
		}
		object = s
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return "", jsonError(err, fmt.Sprintf("element %d is malformed", i))
	}
	if !seen {
		return "", badBody(`element %d has no "object"; send {"object": "<value>"}`, i)
	}
	return object, nil
}

// jsonError keeps the body limit's error as it is (answered 413) and turns
// anything else into a 400 naming where the JSON went wrong.
func jsonError(err error, what string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mbe
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badBody("%s: the JSON ends too early", what)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badBody("%s: %s (at byte %d)", what, se.Error(), se.Offset)
	}
	return badBody("%s: %s", what, err.Error())
}

// describe names a JSON token's kind without echoing the caller's data.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		if v == '[' {
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}

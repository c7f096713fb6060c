package indicator

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// refang undoes the defang markers anywhere in s (case-insensitively), then a
// leading hxxp:// or hxxps://.
func refang(s string) string {
	if strings.ContainsAny(s, "[({") {
		var b strings.Builder
		for i := 0; i < len(s); {
			if n, plain := defangAt(s, i); n > 0 {
				b.WriteString(plain)
				i += n
				continue
			}
			b.WriteByte(s[i])
			i++
		}
		s = b.String()
	}
	for _, x := range [...]struct{ from, to string }{{"hxxp://", "http://"}, {"hxxps://", "https://"}} {
		if len(s) >= len(x.from) && strings.EqualFold(s[:len(x.from)], x.from) {
			return x.to + s[len(x.from):]
		}
	}
	return s
}

// defangAt reports the length of the defang marker that starts at s[i], if
// any, and the text it stands for. Only these bracketed markers that analysts
// write to make an indicator unclickable are undone: a looser refang (the
// bare word "dot", say) could turn a typo into a different, valid indicator
// and spend a lookup on it.
func defangAt(s string, i int) (int, string) {
	switch s[i] {
	case '[', '(', '{':
	default:
		return 0, ""
	}
	for _, d := range [...]struct{ marker, plain string }{
		{"[.]", "."}, {"(.)", "."}, {"{.}", "."},
		{"[dot]", "."}, {"(dot)", "."},
		{"[:]", ":"}, {"[://]", "://"}, {"[/]", "/"},
	} {
		if len(s)-i >= len(d.marker) && strings.EqualFold(s[i:i+len(d.marker)], d.marker) {
			return len(d.marker), d.plain
		}
	}
	return 0, ""
}

// firstControl finds the first control character (C0, DEL or C1) in s.
// Invalid UTF-8 is not a control character; it is dealt with where it
// matters.
func firstControl(s string) (rune, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return rune(c), true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsControl(r) {
			return r, true
		}
		i += n
	}
	return 0, false
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isEscape reports whether s[i:] starts with a percent-escape (%XX).
func isEscape(s string, i int) bool {
	if i+2 >= len(s) || s[i] != '%' {
		return false
	}
	_, ok1 := unhex(s[i+1])
	_, ok2 := unhex(s[i+2])
	return ok1 && ok2
}

// percentDecode decodes every valid %XX escape once and keeps a '%' that
// starts no valid escape as itself, as browsers do. It never touches '+'.
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if isEscape(s, i) {
			hi, _ := unhex(s[i+1])
			lo, _ := unhex(s[i+2])
			b = append(b, hi<<4|lo)
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// lower lower-cases s rune by rune and keeps bytes that are not valid UTF-8
// as they are (strings.ToLower would turn them into U+FFFD and so merge
// different URLs into one cache key).
func lower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(c)
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
		i += n
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

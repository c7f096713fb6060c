package indicator

import "strings"

// HashKind names the hash algorithm a hex digest of this length comes from:
// "md5", "sha1", "sha256", or "" when value is not 32, 40 or 64 hex digits.
func HashKind(value string) string {
	if !isHex(value) {
		return ""
	}
	switch len(value) {
	case 32:
		return "md5"
	case 40:
		return "sha1"
	case 64:
		return "sha256"
	}
	return ""
}

func (p parser) hash() (Indicator, *Error) {
	if HashKind(p.s) != "" {
		return Indicator{Type: Hash, Value: strings.ToLower(p.s)}, nil
	}
	if isHex(p.s) {
		return Indicator{}, p.fail(Hash, "%s is not a file hash: it has %d hex digits, and a hash has 32 (MD5), 40 (SHA-1) or 64 (SHA-256).",
			echo(p.in), len(p.s))
	}
	return Indicator{}, p.fail(Hash, "%s is not a file hash: a hash is 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hex digits (0-9, a-f) with nothing between them.",
		echo(p.in))
}

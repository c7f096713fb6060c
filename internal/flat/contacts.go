package flat

import (
	"strings"
	"unicode"
)

// contactFields are the contact keys the plugin turned into fields: the IP
// WHOIS ones (Address, Email, Fax, Name, OrganizationId, Phone) and the
// domain WHOIS ones (… City, CountryCode, Organization, PostalCode, State),
// read from any contact. Other keys are ignored, so a contact cannot invent
// arbitrary field names.
func contactFields() []string {
	return []string{"Address", "City", "CountryCode", "Email", "Fax", "Name",
		"Organization", "OrganizationId", "Phone", "PostalCode", "State"}
}

// contactSet gathers WHOIS contacts by type, in order of first appearance.
type contactSet []contactGroup

// contactGroup is the contacts of one type, in order.
type contactGroup struct {
	typ      string
	contacts []map[string]any
}

// add reads a Contacts list.
func (c *contactSet) add(list any) {
	items, _ := list.([]any)
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		raw, _ := first(m, "ContactType", "Role").(string)
		t := contactType(raw)
		if t == "" {
			continue
		}
		g := c.group(t)
		g.contacts = append(g.contacts, m)
	}
}

// group returns the group of type t, added at the end if there is none.
func (c *contactSet) group(t string) *contactGroup {
	for i := range *c {
		if (*c)[i].typ == t {
			return &(*c)[i]
		}
	}
	*c = append(*c, contactGroup{typ: t})
	return &(*c)[len(*c)-1]
}

// writeTo writes KL<Type><Field> into out wherever out has no such field
// yet: one contact of a type gives plain values, several give arrays aligned
// with the contacts of that type (null where one lacks the field).
func (c contactSet) writeTo(out map[string]any) {
	for _, g := range c {
		contacts := g.contacts
		for _, k := range contactFields() {
			name := "KL" + g.typ + k
			if _, taken := out[name]; taken {
				continue // a fixed path gave it: the more specific source wins
			}
			vals := make([]any, len(contacts))
			have := false
			for i, m := range contacts {
				if v := m[k]; !empty(v) {
					vals[i] = v
					have = true
				}
			}
			switch {
			case !have:
			case len(vals) == 1:
				out[name] = vals[0]
			default:
				out[name] = vals
			}
		}
	}
}

// contactType turns a ContactType into the middle of a field name: title-cased
// as Python's str.title() does (the plugin's rule: "owner" → "Owner",
// "admin-c" → "Admin-C"), then kept to ASCII letters and digits ("AdminC").
func contactType(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		cased := unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r)
		if cased {
			if prevCased {
				r = unicode.ToLower(r)
			} else {
				r = unicode.ToUpper(r)
			}
		}
		prevCased = cased
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

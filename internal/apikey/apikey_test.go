package apikey

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// keysFile builds a keys file for the given "name:key:role,role" specs.
func keysFile(t *testing.T, specs ...string) []byte {
	t.Helper()
	var entries []string
	for _, s := range specs {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) != 3 {
			t.Fatalf("bad spec %q", s)
		}
		var roles []string
		for _, r := range strings.Split(parts[2], ",") {
			roles = append(roles, fmt.Sprintf("%q", r))
		}
		entries = append(entries, fmt.Sprintf(`{"name": %q, "sha256": %q, "roles": [%s]}`, parts[0], Hash(parts[1]), strings.Join(roles, ",")))
	}
	return []byte(`{"keys": [` + strings.Join(entries, ",") + `]}`)
}

func TestLoadAndAuthenticate(t *testing.T) {
	kr, err := Load(keysFile(t,
		"siem:siem-secret:lookup",
		"soar:soar-secret:lookup,refresh,lookup",
		"ops:ops-secret:lookup,refresh,admin",
	))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := kr.Len(), 3; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	tests := []struct {
		key       string
		wantOK    bool
		wantName  string
		wantRoles Roles
	}{
		{"siem-secret", true, "siem", Roles{Lookup}},
		{"soar-secret", true, "soar", Roles{Lookup, Refresh}},
		{"ops-secret", true, "ops", Roles{Lookup, Refresh, Admin}},
		{"", false, "", nil},
		{"siem-secret ", false, "", nil},
		{"SIEM-SECRET", false, "", nil},
		{Hash("siem-secret"), false, "", nil}, // the stored digest is not a key
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, ok := kr.Authenticate(tt.key)
			if ok != tt.wantOK {
				t.Fatalf("Authenticate ok = %v, want %v", ok, tt.wantOK)
			}
			if k.Name != tt.wantName {
				t.Errorf("name = %q, want %q", k.Name, tt.wantName)
			}
			if !slices.Equal(k.Roles, tt.wantRoles) {
				t.Errorf("roles = %v, want %v", k.Roles, tt.wantRoles)
			}
		})
	}
}

// TestIdentify: the hot path's lookup finds the keyring's own key without
// allocating (a key longer than the 32 bytes Go converts on the stack
// included), and the key travels in a context of a server's own as it
// does in NewContext's, changes to what FromContext returns not reaching
// the keyring.
func TestIdentify(t *testing.T) {
	long := "tg_" + strings.Repeat("k", 43)
	kr, err := Load(keysFile(t, "siem:"+long+":lookup", "ops:ops-secret:lookup,admin"))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := kr.Identify(long)
	if !ok || k.Name != "siem" || !slices.Equal(k.Roles, Roles{Lookup}) {
		t.Fatalf("Identify = %+v, %v", k, ok)
	}
	if again, _ := kr.Identify(long); again != k {
		t.Error("Identify made a new Key")
	}
	if _, ok := kr.Identify("nope"); ok {
		t.Error("Identify found an unknown key")
	}
	if n := testing.AllocsPerRun(100, func() { kr.Identify(long) }); n != 0 {
		t.Errorf("Identify allocates %v times, want 0", n)
	}

	ctx := ownContext{context.Background(), k}
	got, ok := FromContext(ctx)
	if !ok || got.Name != "siem" {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
	got.Roles[0] = Admin
	if !k.Has(Lookup) || k.Has(Admin) {
		t.Error("changing FromContext's key changed the keyring's")
	}
	if _, ok := FromContext(ownContext{context.Background(), nil}); ok {
		t.Error("FromContext found a key in a context carrying none")
	}
	if got, ok := FromContext(NewContext(context.Background(), *k)); !ok || got.Name != "siem" {
		t.Errorf("FromContext(NewContext) = %+v, %v", got, ok)
	}
}

// ownContext carries a key through ContextValue, as the HTTP layer's does.
type ownContext struct {
	context.Context
	k *Key
}

func (c ownContext) Value(key any) any {
	if v, ok := ContextValue(key, c.k); ok {
		return v
	}
	return c.Context.Value(key)
}

func TestUpperCaseDigest(t *testing.T) {
	data := fmt.Sprintf(`{"keys":[{"name":"a","sha256":%q,"roles":["admin"]}]}`, strings.ToUpper(Hash("k")))
	kr, err := Load([]byte(data))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if k, ok := kr.Authenticate("k"); !ok || k.Name != "a" {
		t.Errorf("Authenticate = %v, %v; want a, true", k, ok)
	}
}

func TestKeyHas(t *testing.T) {
	k := Key{Name: "soar", Roles: Roles{Lookup, Refresh}}
	for _, tt := range []struct {
		role Role
		want bool
	}{{Lookup, true}, {Refresh, true}, {Admin, false}, {"", false}, {"LOOKUP", false}} {
		if got := k.Has(tt.role); got != tt.want {
			t.Errorf("Has(%q) = %v, want %v", tt.role, got, tt.want)
		}
	}
}

func TestByName(t *testing.T) {
	kr, err := Load(keysFile(t, "siem:s1:lookup", "ops:s2:admin"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	k, ok := kr.ByName("ops")
	if !ok || k.Name != "ops" || !k.Has(Admin) {
		t.Errorf("ByName(ops) = %v, %v; want ops with admin", k, ok)
	}
	if _, ok := kr.ByName("OPS"); ok {
		t.Error("ByName(OPS) found a key; names are case-sensitive")
	}
	// A caller changing the returned roles must not change the keyring.
	k.Roles[0] = Lookup
	if again, _ := kr.ByName("ops"); !again.Has(Admin) {
		t.Error("changing a returned Key changed the keyring")
	}
}

func TestNilKeyring(t *testing.T) {
	var kr *Keyring
	if _, ok := kr.Authenticate("x"); ok {
		t.Error("nil keyring authenticated a key")
	}
	if _, ok := kr.ByName("x"); ok {
		t.Error("nil keyring found a name")
	}
	if got := kr.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
}

func TestLoadErrors(t *testing.T) {
	good := Hash("k1")
	tests := []struct {
		name string
		data string
		want []string // substrings the error must contain
	}{
		{"empty", "", []string{"empty"}},
		{"spaces", "  \n", []string{"empty"}},
		{"not json", "keys:", []string{"not valid"}},
		{"two values", `{"keys":[{"name":"a","sha256":"` + good + `","roles":["lookup"]}]} {}`, []string{"more than one"}},
		{"no keys", `{"keys": []}`, []string{"no keys"}},
		{"no keys field", `{}`, []string{"no keys"}},
		{"unknown field", `{"keys":[{"name":"a","sha256":"` + good + `","role":["lookup"]}]}`, []string{"not valid", "role"}},
		{"missing name", `{"keys":[{"sha256":"` + good + `","roles":["lookup"]}]}`, []string{"keys[0]: name is missing"}},
		{"colon in name", `{"keys":[{"name":"a:b","sha256":"` + good + `","roles":["lookup"]}]}`, []string{"colons"}},
		{"long name", `{"keys":[{"name":"` + strings.Repeat("n", 65) + `","sha256":"` + good + `","roles":["lookup"]}]}`, []string{"at most 64"}},
		{"short digest", `{"keys":[{"name":"a","sha256":"abc","roles":["lookup"]}]}`, []string{`keys[0] ("a"): sha256`, "got 3 characters"}},
		{"long digest", `{"keys":[{"name":"a","sha256":"` + good + `00","roles":["lookup"]}]}`, []string{"got 66 characters"}},
		{"non-hex digest", `{"keys":[{"name":"a","sha256":"` + strings.Repeat("z", 64) + `","roles":["lookup"]}]}`, []string{"other characters"}},
		{"no roles", `{"keys":[{"name":"a","sha256":"` + good + `","roles":[]}]}`, []string{"roles is empty"}},
		{"unknown role", `{"keys":[{"name":"a","sha256":"` + good + `","roles":["lookup","root"]}]}`, []string{`unknown role "root"`}},
		{"duplicate name", `{"keys":[{"name":"a","sha256":"` + good + `","roles":["lookup"]},{"name":"a","sha256":"` + Hash("k2") + `","roles":["lookup"]}]}`, []string{"keys[1]", "also used by keys[0]"}},
		{"duplicate digest", `{"keys":[{"name":"a","sha256":"` + good + `","roles":["lookup"]},{"name":"b","sha256":"` + good + `","roles":["lookup"]}]}`, []string{`keys[1] ("b"): sha256 is the same as keys[0]`}},
		{"every problem at once", `{"keys":[{"name":"","sha256":"x","roles":["god"]},{"name":"b","sha256":"` + good + `","roles":[]}]}`,
			[]string{"4 problem(s)", "keys[0]: name", "keys[0]: sha256", `keys[0]: unknown role "god"`, `keys[1] ("b"): roles is empty`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := Load([]byte(tt.data))
			if err == nil {
				t.Fatalf("Load succeeded with %d keys, want an error", kr.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHash(t *testing.T) {
	// printf %s secret | sha256sum
	const want = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
	if got := Hash("secret"); got != want {
		t.Errorf("Hash(secret) = %s, want %s", got, want)
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if a == b {
		t.Errorf("two keys are equal: %s", a)
	}
	if !strings.HasPrefix(a, Prefix) {
		t.Fatalf("key %q lacks prefix %q", a, Prefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, Prefix))
	if err != nil || len(raw) != 32 {
		t.Errorf("key body decodes to %d bytes (err %v), want 32", len(raw), err)
	}
	// A generated key works once its hash is in a keys file.
	kr, err := Load([]byte(fmt.Sprintf(`{"keys":[{"name":"demo","sha256":%q,"roles":["lookup"]}]}`, Hash(a))))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if k, ok := kr.Authenticate(a); !ok || k.Name != "demo" {
		t.Errorf("Authenticate(generated) = %v, %v; want demo, true", k, ok)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"keys":[{"name":"siem","sha256":"` + Hash("k") + `","roles":["lookup"]}]}`))
	f.Add([]byte(`{"keys":[{"name":"a","sha256":"` + strings.Repeat("F", 64) + `","roles":["admin","admin"]}]}`))
	f.Add([]byte(`{"keys":[{"name":"","sha256":"` + strings.Repeat("0", 65) + `","roles":[]}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"keys":[{"name":"\u0000","sha256":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := Load(data)
		if err != nil {
			if kr != nil {
				t.Fatal("Load returned both a keyring and an error")
			}
			return
		}
		if kr.Len() == 0 {
			t.Fatal("Load accepted a file with no keys")
		}
		for _, k := range kr.load().keys {
			if k.key.Name == "" || len(k.key.Roles) == 0 || k.key.TIPDailyBudget < 0 {
				t.Fatalf("Load accepted key %+v", k.key)
			}
			if got, ok := kr.ByName(k.key.Name); !ok || got.Name != k.key.Name {
				t.Fatalf("ByName(%q) = %v, %v", k.key.Name, got, ok)
			}
			for _, r := range k.key.Roles {
				if !r.valid() {
					t.Fatalf("Load accepted role %q", r)
				}
			}
		}
		ks := kr.load()
		if len(ks.byDigest) != len(ks.keys) {
			t.Fatalf("%d digests for %d keys", len(ks.byDigest), len(ks.keys))
		}
		seen := map[int]bool{}
		for _, i := range ks.byDigest {
			if i < 0 || i >= len(ks.keys) || seen[i] {
				t.Fatalf("digest index %d of %d keys", i, len(ks.keys))
			}
			seen[i] = true
		}
	})
}

// What MarshalFile writes, Load reads back: names, roles and budgets, and
// the key authenticates while its text is nowhere in the file.
func TestMarshalFileRoundTrip(t *testing.T) {
	entries := []FileEntry{
		{Name: "siem", Key: "tg_siem-secret", Roles: []string{"lookup"}},
		{Name: "soar", Key: "tg_soar-secret", Roles: []string{"lookup", "refresh"}, TIPDailyBudget: 500},
	}
	data := MarshalFile(entries)
	kr, err := Load(data)
	if err != nil {
		t.Fatalf("Load(MarshalFile) = %v; file %s", err, data)
	}
	for _, e := range entries {
		if strings.Contains(string(data), e.Key) {
			t.Errorf("the file holds the key of %s", e.Name)
		}
		k, ok := kr.Authenticate(e.Key)
		if !ok || k.Name != e.Name || k.TIPDailyBudget != e.TIPDailyBudget || len(k.Roles) != len(e.Roles) {
			t.Errorf("%s: authenticated %+v, %v; want %+v", e.Name, k, ok, e)
		}
	}
}

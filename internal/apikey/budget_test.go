package apikey

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestTIPDailyBudget(t *testing.T) {
	entry := func(name, budget string) string {
		extra := ""
		if budget != "" {
			extra = `, "tip_daily_budget": ` + budget
		}
		return fmt.Sprintf(`{"name": %q, "sha256": %q, "roles": ["lookup"]%s}`, name, Hash(name+"-secret"), extra)
	}
	tests := []struct {
		name    string
		budget  string // the JSON value; "" leaves the field out
		want    int
		wantErr string // substring; "" means Load succeeds
	}{
		{"absent", "", 0, ""},
		{"null", "null", 0, ""},
		{"zero", "0", 0, ""},
		{"positive", "1000", 1000, ""},
		{"negative", "-1", 0, `keys[0] ("k"): tip_daily_budget must be a whole number`},
		{"fraction", "2.5", 0, `keys[0] ("k"): tip_daily_budget must be a whole number`},
		{"exponent", "1e3", 0, "got 1e3"},
		{"string", `"100"`, 0, `got "100"`},
		{"bool", "true", 0, "tip_daily_budget must be"},
		{"overflow", "99999999999999999999999", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := Load([]byte(`{"keys": [` + entry("k", tt.budget) + `]}`))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Load succeeded, want an error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			k, ok := kr.Authenticate("k-secret")
			if !ok || k.TIPDailyBudget != tt.want {
				t.Errorf("Authenticate = %+v, %v; want TIPDailyBudget %d", k, ok, tt.want)
			}
			if byName, _ := kr.ByName("k"); byName.TIPDailyBudget != tt.want {
				t.Errorf("ByName TIPDailyBudget = %d, want %d", byName.TIPDailyBudget, tt.want)
			}
		})
	}

	// A bad budget is reported with the file's other problems, naming its key.
	_, err := Load([]byte(`{"keys": [` + entry("a", "-5") + `,` + entry("b", `"x"`) + `]}`))
	if err == nil || !strings.Contains(err.Error(), "2 problem(s)") ||
		!strings.Contains(err.Error(), `keys[0] ("a")`) || !strings.Contains(err.Error(), `keys[1] ("b")`) {
		t.Errorf("Load error = %v, want both keys named", err)
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found a key in an empty context")
	}
	k := Key{Name: "siem", Roles: Roles{Lookup}, TIPDailyBudget: 50}
	ctx := NewContext(context.Background(), k)
	got, ok := FromContext(ctx)
	if !ok || got.Name != "siem" || got.TIPDailyBudget != 50 || !got.Has(Lookup) {
		t.Fatalf("FromContext = %+v, %v; want %+v", got, ok, k)
	}
	// Neither the key given nor a key taken out can change what the
	// context carries.
	k.Roles[0] = Admin
	got.Roles[0] = Admin
	if again, _ := FromContext(ctx); !again.Has(Lookup) || again.Has(Admin) {
		t.Errorf("the context's key changed through a Roles slice: %+v", again)
	}
}

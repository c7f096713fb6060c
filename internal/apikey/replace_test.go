package apikey

import (
	"slices"
	"sync"
	"testing"
)

// TestReplace: a holder of the Keyring sees the reloaded keys at once; the
// removed key is refused, the new one accepted.
func TestReplace(t *testing.T) {
	kr, err := Load(keysFile(t, "siem:old-secret:lookup", "ops:ops-secret:admin"))
	if err != nil {
		t.Fatal(err)
	}
	next, err := Load(keysFile(t, "siem:new-secret:lookup,refresh", "ops:ops-secret:admin"))
	if err != nil {
		t.Fatal(err)
	}
	held := kr // as httpapi and kuma hold it
	kr.Replace(next)
	if _, ok := held.Authenticate("old-secret"); ok {
		t.Error("the removed key is still accepted")
	}
	k, ok := held.Authenticate("new-secret")
	if !ok || k.Name != "siem" || !k.Has(Refresh) {
		t.Errorf("the new key = %+v, %v", k, ok)
	}
	if _, ok := held.Authenticate("ops-secret"); !ok {
		t.Error("the unchanged key is refused")
	}
	if !slices.Equal(held.Names(), []string{"siem", "ops"}) {
		t.Errorf("Names = %v", held.Names())
	}
	kr.Replace(nil)
	if held.Len() != 2 {
		t.Errorf("Replace(nil) changed the keys: Len = %d", held.Len())
	}
	var none *Keyring
	none.Replace(next) // authentication off: nothing to replace, no panic
}

// TestReplaceWhileAuthenticating is for the race detector.
func TestReplaceWhileAuthenticating(t *testing.T) {
	a, _ := Load(keysFile(t, "siem:a-secret:lookup"))
	b, _ := Load(keysFile(t, "siem:b-secret:lookup"))
	kr, _ := Load(keysFile(t, "siem:a-secret:lookup"))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 500 {
			if i%2 == 0 {
				kr.Replace(b)
			} else {
				kr.Replace(a)
			}
		}
	}()
	for range 500 {
		_, okA := kr.Authenticate("a-secret")
		_, okB := kr.Authenticate("b-secret")
		_ = okA || okB
	}
	wg.Wait()
}

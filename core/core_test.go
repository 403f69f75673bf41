package core

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"hello", true},
		{"hello-world.v2@x", true},
		{"a b", true},
		{"_x", true},
		{"", false},
		{"-lead", false},
		{"trail ", false},
		{"semi;colon", false},
		{"slash/inside", false},
		{strings.Repeat("a", MaxNameLength), true},
		{strings.Repeat("a", MaxNameLength+1), false},
	}
	for _, tt := range tests {
		err := ValidateName("action name", tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && ErrorCodeOf(err) != CodeInvalid {
			t.Errorf("ValidateName(%q) code = %s, want invalid", tt.name, ErrorCodeOf(err))
		}
	}
}

// FuzzValidName checks the hand-written name rule against OpenWhisk's
// regular expression.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"hello", "a", "a b", "a ", " a", "-a", "a-", "a@b.c", "_", "é", "a\nb", "a\x00", "ab c@.-"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^(\w|\w[\w@ .-]*[\w@.-]+)$`)
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := validName(name), re.MatchString(name); got != want {
			t.Fatalf("validName(%q) = %v, the regular expression says %v", name, got, want)
		}
	})
}

func TestParseActionName(t *testing.T) {
	p, err := ParseActionName("guest", "pkg/act")
	if err != nil || p.Package != "pkg" || p.Name != "act" || p.Qualified() != "guest/pkg" || p.String() != "/guest/pkg/act" {
		t.Fatalf("ParseActionName(pkg/act) = %+v, %v", p, err)
	}
	if _, err := ParseActionName("guest", "a/b/c"); err == nil {
		t.Fatal("three segments accepted")
	}
	if _, err := ParseActionName("guest", "pkg/"); err == nil {
		t.Fatal("empty action name accepted")
	}
}

func TestActivationIDsSortByTime(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	a, b := NewActivationID(t0), NewActivationID(t0.Add(time.Millisecond))
	if !ValidActivationID(a) || !ValidActivationID(b) {
		t.Fatalf("invalid ids %q %q", a, b)
	}
	if !(a < b) {
		t.Fatalf("ids do not sort by time: %s !< %s", a, b)
	}
	if a == NewActivationID(t0) {
		t.Fatal("two ids at the same millisecond are equal")
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("g", 32), strings.Repeat("a", 31)} {
		if ValidActivationID(bad) {
			t.Errorf("ValidActivationID(%q) = true", bad)
		}
	}
}

func TestLimitsApply(t *testing.T) {
	i := func(v int) *int { return &v }
	tests := []struct {
		put  *LimitsPut
		want Limits
		ok   bool
	}{
		{nil, DefaultLimits(), true},
		{&LimitsPut{Timeout: i(100)}, Limits{100, 256, 10, 1}, true},
		{&LimitsPut{Timeout: i(99)}, Limits{}, false},
		{&LimitsPut{Timeout: i(300_001)}, Limits{}, false},
		{&LimitsPut{Memory: i(16), Logs: i(0)}, Limits{60_000, 16, 0, 1}, true},
		{&LimitsPut{Memory: i(4096)}, Limits{}, false},
		{&LimitsPut{Logs: i(11)}, Limits{}, false},
	}
	for _, tt := range tests {
		got, err := tt.put.Apply(DefaultLimits())
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("Apply(%+v) = %+v, %v; want %+v ok=%v", tt.put, got, err, tt.want, tt.ok)
		}
	}
}

func TestNextVersion(t *testing.T) {
	for in, want := range map[string]string{"0.0.1": "0.0.2", "1.2.9": "1.2.10", "": "0.0.1", "x": "0.0.1"} {
		if got := NextVersion(in); got != want {
			t.Errorf("NextVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookupKind(t *testing.T) {
	if k, err := LookupKind("wasm"); err != nil || !k.Binary {
		t.Fatalf("wasm: %+v %v", k, err)
	}
	if _, err := LookupKind("cobol:1"); err == nil || !strings.Contains(err.Error(), "not known") {
		t.Fatalf("unknown kind: %v", err)
	}
	if k, err := LookupKind("python:default"); err != nil || k.Name != "python:3" || !k.Zip {
		t.Fatalf("python alias: %+v %v", k, err)
	}
	if k, err := LookupKind("blackbox"); err != nil || !k.Binary {
		t.Fatalf("blackbox: %+v %v", k, err)
	}
	if _, err := LookupKind("sequence"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("sequence (not runnable yet): %v", err)
	}
}

func TestAuth(t *testing.T) {
	uuid, key := NewCredentials()
	u, k, err := ParseAuth(uuid + ":" + key)
	if err != nil || u != uuid || k != key {
		t.Fatalf("ParseAuth(new) = %q %q %v", u, k, err)
	}
	for _, bad := range []string{"", "nocolon", "short:key", uuid + ":short"} {
		if _, _, err := ParseAuth(bad); err == nil {
			t.Errorf("ParseAuth(%q) accepted", bad)
		} else if strings.Contains(err.Error(), key) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
	ns := Namespace{UUID: uuid, Key: key}
	if !ns.Matches(key) || ns.Matches(key+"x") {
		t.Fatal("Matches is wrong")
	}
}

func TestIsJSONObject(t *testing.T) {
	for in, want := range map[string]bool{`{}`: true, ` {"a":1}`: true, `[]`: false, `"s"`: false, `{`: false, ``: false, `{"a":1} x`: false} {
		if got := IsJSONObject([]byte(in)); got != want {
			t.Errorf("IsJSONObject(%q) = %v", in, got)
		}
	}
}

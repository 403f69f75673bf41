package gateway

import (
	"net/url"
	"strings"
	"testing"
)

func TestQueryValue(t *testing.T) {
	tests := []struct {
		query, name, want string
	}{
		{"blocking=true&result=true", "blocking", "true"},
		{"blocking=true&result=true", "result", "true"},
		{"blocking=true&result=true", "timeout", ""},
		{"", "blocking", ""},
		{"blocking", "blocking", ""},
		{"blocking=", "blocking", ""},
		{"a=1&a=2", "a", "1"},
		{"a=%zz&a=2", "a", "2"},   // a value that does not unescape is skipped
		{"a%zz=1&a=2", "a", "2"},  // so is a key
		{"a=1;b=2&b=3", "b", "3"}, // a pair with ";" is skipped
		{"name=hello+world%21", "name", "hello world!"},
		{"na%6De=x", "name", "x"}, // an escaped key
		{"&&blocking=true&", "blocking", "true"},
		{"x=a=b", "x", "a=b"}, // the key ends at the first "="
		{"timeout=%31%30", "timeout", "10"},
	}
	for _, tt := range tests {
		if got := queryValue(tt.query, tt.name); got != tt.want {
			t.Errorf("queryValue(%q, %q) = %q, want %q", tt.query, tt.name, got, tt.want)
		}
		if want := urlQueryGet(tt.query, tt.name); tt.want != want {
			t.Errorf("the test case (%q, %q) wants %q, but url.ParseQuery says %q", tt.query, tt.name, tt.want, want)
		}
	}
	// Past maxPlainQueryPairs the query goes to url.ParseQuery.
	long := strings.Repeat("x=1&", maxPlainQueryPairs) + "blocking=true"
	if got := queryValue(long, "blocking"); got != "true" {
		t.Errorf("a long query: %q, want true", got)
	}
}

// FuzzQueryValue holds queryValue equal to what echo's QueryParam returns:
// url.ParseQuery's first value.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"blocking=true&result=true", "a=%zz&a=2", "a=1;b=2&b=3", "na%6De=x+y", "x=a=b&&", "%", "+=+"} {
		f.Add(s, "a")
		f.Add(s, "blocking")
	}
	f.Fuzz(func(t *testing.T, query, name string) {
		if got, want := queryValue(query, name), urlQueryGet(query, name); got != want {
			t.Errorf("queryValue(%q, %q) = %q, url.ParseQuery gives %q", query, name, got, want)
		}
	})
}

func urlQueryGet(query, name string) string {
	v, _ := url.ParseQuery(query)
	return v.Get(name)
}

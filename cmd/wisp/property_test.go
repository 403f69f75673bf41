package main

import (
	"os"
	"strings"
	"testing"
)

func TestPropertyPrecedence(t *testing.T) {
	ns := newNamespace(t)
	c := newCLI(t, nil)
	if out := c.ok("property", "set", "--apihost", ns.host, "--auth", ns.auth); !strings.Contains(out, "ok: whisk API host set to "+ns.host) || !strings.Contains(out, "ok: whisk auth set") {
		t.Fatalf("property set printed %q", out)
	}
	// Unknown keys of the file survive a rewrite; the file is private.
	path := c.env["WISP_CONFIG_FILE"]
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("# mine\nNAMESPACE=guest\n"), data...), 0o600)
	c.ok("property", "set", "--auth", ns.auth)
	data, _ = os.ReadFile(path)
	if want := "# mine\nNAMESPACE=guest\nAPIHOST=" + ns.host + "\nAUTH=" + ns.auth + "\n"; string(data) != want {
		t.Fatalf("properties file:\n%s\nwant:\n%s", data, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("properties file mode %v", fi.Mode())
	}

	if out := c.ok("property", "get"); out != "whisk API host\t\t"+ns.host+"\nwhisk auth\t\t"+ns.auth+"\n" {
		t.Fatalf("property get = %q", out)
	}
	if out := c.ok("namespace", "list"); out != "namespaces\n"+ns.name+"\n" {
		t.Fatalf("namespace list from the file = %q", out)
	}

	// The environment wins over the file.
	c.env["WISP_APIHOST"] = "http://127.0.0.1:9"
	if out := c.ok("property", "get", "--apihost"); out != "whisk API host\t\thttp://127.0.0.1:9\n" {
		t.Fatalf("property get --apihost with WISP_APIHOST = %q", out)
	}
	c.env["WISP_AUTH"] = "x:y"
	if out := c.ok("property", "get", "--auth"); out != "whisk auth\t\tx:y\n" {
		t.Fatalf("property get --auth with WISP_AUTH = %q", out)
	}
	// The global flags win over both.
	if out := c.ok("namespace", "list", "--apihost", ns.host, "-u", ns.auth); out != "namespaces\n"+ns.name+"\n" {
		t.Fatalf("namespace list with flags = %q", out)
	}
	if r := c.run("namespace", "list", "--apihost", ns.host); r.code != 1 || !strings.Contains(r.stderr, "the auth key was refused") {
		t.Fatalf("with WISP_AUTH wrong: %+v", r)
	}

	delete(c.env, "WISP_APIHOST")
	delete(c.env, "WISP_AUTH")
	c.ok("property", "unset", "--auth")
	if out := c.ok("--json", "property", "get"); !strings.Contains(out, `"auth": ""`) || !strings.Contains(out, `"apihost": "`+ns.host) {
		t.Fatalf("property get --json after unset = %q", out)
	}
	if r := c.run("property", "set", "--apihost", "ftp://x"); r.code != 1 || !strings.Contains(r.stderr, "http or https") {
		t.Fatalf("property set with a bad host: %+v", r)
	}
}

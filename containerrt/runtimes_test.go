package containerrt

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadRuntime(t *testing.T) {
	cases := []struct {
		name    string
		json    string
		rootfs  bool
		wantErr string
	}{
		{"ok", `{"kind":"python:3","args":["/usr/bin/python3","-u","/wisp/launcher.py"],"env":["PATH=/usr/bin:/bin"],"cwd":"/action","version":"3.11.2"}`, true, ""},
		{"relative program", `{"kind":"python:3","args":["python3"]}`, true, "absolute path"},
		{"no args", `{"kind":"python:3","args":[]}`, true, "args must name"},
		{"empty program", `{"kind":"python:3","args":[""]}`, true, "args must name"},
		{"bad env", `{"kind":"python:3","args":["/x"],"env":["NOEQUALS"]}`, true, "not KEY=value"},
		{"relative cwd", `{"kind":"python:3","args":["/x"],"cwd":"action"}`, true, "not an absolute path"},
		{"not json", `kind: python`, true, "parse"},
		{"no rootfs", `{"kind":"python:3","args":["/x"]}`, false, "rootfs"},
		{"too large", `{"kind":"python:3","args":["/x"],"env":["A=` + strings.Repeat("a", maxRuntimeFile) + `"]}`, true, "more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "runtime.json"), []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.rootfs {
				if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			img, err := readRuntime(dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("readRuntime: %v", err)
				}
				if img.Kind != "python:3" || img.Cwd != "/action" || len(img.Args) != 3 || !filepath.IsAbs(img.Rootfs) {
					t.Errorf("read %+v", img)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadRuntimesSkipsUnbuiltAndBroken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, js string, stamp bool) {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(sub, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "runtime.json"), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		if stamp {
			if err := os.WriteFile(filepath.Join(sub, "stamp"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("python3", `{"kind":"python:3","args":["/usr/bin/python3"]}`, true)
	write("nodejs20", `{"kind":"nodejs:20","args":["/usr/bin/node"]}`, false) // build in progress
	write("broken", `{"kind":`, true)
	write("nokind", `{"args":["/x"]}`, true)
	write("dup", `{"kind":"python:3","args":["/x"]}`, true)
	got, problems := loadRuntimes(dir)
	if kinds := sortedKinds(got); !slices.Equal(kinds, []string{"python:3"}) {
		t.Errorf("kinds %v, want [python:3]", kinds)
	}
	if len(problems) != 3 {
		t.Errorf("problems %v, want 3 (broken, nokind, dup)", problems)
	}
	if got, problems := loadRuntimes(filepath.Join(dir, "missing")); len(got) != 0 || len(problems) != 0 {
		t.Errorf("a missing runtimes directory: %v, %v; want nothing", got, problems)
	}
}

func TestParseStems(t *testing.T) {
	cases := []struct {
		in      map[string]int
		want    []stemSpec
		wantErr string
	}{
		{map[string]int{"python:3": 2, "nodejs:20@512": 1, "native": 0}, []stemSpec{{stemKey{"nodejs:20", 512}, 1}, {stemKey{"python:3", 256}, 2}}, ""},
		{map[string]int{"python:3": -1}, nil, "negative"},
		{map[string]int{"python:3@8": 1}, nil, "memory after @"},
		{map[string]int{"python:3@lots": 1}, nil, "memory after @"},
		{map[string]int{"blackbox": 1}, nil, "blackbox"},
		{map[string]int{"@256": 1}, nil, "need a runtime kind"},
	}
	for _, tc := range cases {
		got, err := parseStems(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseStems(%v): err %v, want one saying %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseStems(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestStateMachine(t *testing.T) {
	life := []Status{StatusStarting, StatusStem, StatusInitialising, StatusRunning, StatusReady, StatusPaused, StatusRunning, StatusReady, StatusRemoved}
	m := &member{id: "x", status: life[0]}
	for _, to := range life[1:] {
		if err := m.setStatus(to); err != nil {
			t.Fatalf("%v", err)
		}
	}
	bad := []struct{ from, to Status }{
		{StatusRemoved, StatusRunning},
		{StatusPaused, StatusReady}, // a paused container is resumed by a claim only
		{StatusStem, StatusRunning}, // a stem cell must be initialised first
		{StatusRunning, StatusPaused},
		{StatusInitialising, StatusStem},
	}
	for _, b := range bad {
		m := &member{id: "y", status: b.from}
		err := m.setStatus(b.to)
		var te *TransitionError
		if err == nil || !errors.As(err, &te) || m.status != b.from {
			t.Errorf("%s → %s: err %v, status %s; want a TransitionError and no change", b.from, b.to, err, m.status)
		}
	}
	if s := Status(42).String(); s != "status(42)" {
		t.Errorf("String of an unknown status: %q", s)
	}
}

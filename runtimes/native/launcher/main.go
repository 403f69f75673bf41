// Command launcher is the action loop's first step in the native runtime
// (docs/container-protocol.md): it reads the init message, checks that the
// action's executable is there and may be run, replies on fd 3, closes the
// init's logs with the sentinels and then execve's the executable with the
// same file descriptors 0-3, so the program sees only run lines.
//
// It is built static (CGO_ENABLED=0) and uses the standard library only:
// the runtimes package builds it from this source, embedded in wispd.
// The action directory is /action; WISP_ACTION_DIR overrides it for Wisp's
// own tests, which run the launcher on the host.
package main

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

const sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"

// initMessage is the part of the init message the launcher reads.
type initMessage struct {
	Init *struct {
		Env map[string]string `json:"env"`
	} `json:"init"`
}

func main() {
	reply := os.NewFile(3, "reply")
	if _, err := reply.Stat(); err != nil {
		fmt.Fprintf(os.Stderr, "wisp launcher: file descriptor 3 (the reply pipe) is not open: %v\n", err)
		os.Exit(1)
	}
	dir := os.Getenv("WISP_ACTION_DIR")
	if dir == "" {
		dir = "/action"
	}
	os.Unsetenv("WISP_ACTION_DIR")
	exe := filepath.Join(dir, "exec")

	line, err := readLine()
	if errors.Is(err, io.EOF) && len(line) == 0 {
		// Stdin ended before any message: the container (a stem cell
		// never used) is being stopped. Like the other runtimes' loops,
		// end quietly.
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wisp launcher: read the init message: %v\n", err)
		os.Exit(1)
	}
	env, problem := check(line, exe)
	if problem != "" {
		// The container is discarded after a failed init: the launcher
		// replies and then waits for stdin to close, as a loop would.
		respond(reply, map[string]string{"error": problem})
		for {
			if _, err := readLine(); err != nil {
				os.Exit(0)
			}
			respond(reply, map[string]string{"error": "the action failed to initialize: " + problem})
		}
	}
	for k, v := range env {
		os.Setenv(k, v)
	}
	// Tells Wisp's Go SDK (sdk/go) to serve the action loop rather than
	// run one activation from stdin, as it does when tried out by hand.
	os.Setenv("WISP_ACTION_LOOP", "1")
	respond(reply, map[string]bool{"ok": true})
	if err := execAction(exe); err != nil {
		fmt.Fprintf(os.Stderr, "wisp launcher: start %s: %v\n", exe, err)
		os.Exit(1)
	}
}

// execAction executes exe in place of the launcher. ETXTBSY ("text file
// busy") means that some process still holds the file open for writing:
// a process wispd forked (another container starting) while it wrote the
// file keeps a copy of the descriptor until that process executes its own
// program, a moment later. The exec is tried again for up to a second.
func execAction(exe string) error {
	delay := 100 * time.Microsecond
	deadline := time.Now().Add(time.Second)
	for {
		err := syscall.Exec(exe, []string{exe}, os.Environ())
		if !errors.Is(err, syscall.ETXTBSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// readLine reads one line from stdin a byte at a time: a buffered reader
// could take bytes of the next message, which belong to the executable.
func readLine() ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := os.Stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			return line, err
		}
	}
}

// check reads the init message and checks the executable, returning the
// action's environment, or what is wrong, for the developer.
func check(line []byte, exe string) (map[string]string, string) {
	var m initMessage
	if err := json.Unmarshal(line, &m); err != nil || m.Init == nil {
		return nil, fmt.Sprintf("the first message is not an init message: %s", excerpt(line))
	}
	fi, err := os.Stat(exe)
	switch {
	case err != nil:
		return nil, "the action has no executable: " + exe + " does not exist"
	case !fi.Mode().IsRegular():
		return nil, exe + " is not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		return nil, exe + " is not executable (its mode is " + fi.Mode().Perm().String() + ")"
	}
	if err := syscall.Access(exe, 1 /* X_OK */); err != nil {
		return nil, fmt.Sprintf("%s cannot be executed: %v", exe, err)
	}
	if problem := checkELF(exe); problem != "" {
		return nil, problem
	}
	return m.Init.Env, ""
}

// machines are the ELF machine of each architecture the launcher is built for.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390}

// checkELF tells a file the kernel could not run at all (a zip, a script
// without #!, an executable for another machine) before execve fails
// where no reply can tell why.
func checkELF(exe string) string {
	f, err := os.Open(exe)
	if err != nil {
		return fmt.Sprintf("open %s: %v", exe, err)
	}
	defer f.Close()
	head := make([]byte, 2)
	if n, _ := f.ReadAt(head, 0); n == 2 && string(head) == "#!" {
		return "" // a script: if its interpreter is not in the runtime, execve's error is logged
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return exe + " is not a Linux executable (" + err.Error() + "): build it with CGO_ENABLED=0 GOOS=linux GOARCH=" + runtime.GOARCH
	}
	if want, ok := machines[runtime.GOARCH]; ok && ef.Machine != want {
		return fmt.Sprintf("%s is an executable for %s, not for this machine (%s): build it with GOARCH=%s", exe, ef.Machine, want, runtime.GOARCH)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Sprintf("%s is an ELF %s, not an executable", exe, ef.Type)
	}
	return ""
}

// excerpt is the start of b, for error messages.
func excerpt(b []byte) string {
	if len(b) > 60 {
		return fmt.Sprintf("%q... (%d bytes)", b[:60], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// respond writes a reply and then the sentinels on stdout and stderr.
func respond(reply *os.File, v any) {
	b, _ := json.Marshal(v)
	if _, err := reply.Write(append(b, '\n')); err != nil {
		fmt.Fprintf(os.Stderr, "wisp launcher: write the reply: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(sentinel)
	os.Stderr.WriteString(sentinel)
}

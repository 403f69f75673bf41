package actioncode

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// hostMachine is the ELF machine of the architecture this binary runs on:
// a native action runs on the invoker's own CPU.
var hostMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"386":     elf.EM_386,
	"arm":     elf.EM_ARM,
	"riscv64": elf.EM_RISCV,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"loong64": elf.EM_LOONGARCH,
}[runtime.GOARCH]

// CheckNative validates a native action's code: an ELF executable (ET_EXEC,
// or ET_DYN with an entry point, i.e. a static PIE) for this machine's
// architecture. A dynamically linked executable (one with a PT_INTERP
// program header) is refused with an error that says so, since the native
// runtime's root filesystem has no libc or loader.
func CheckNative(code []byte) error {
	if len(code) == 0 {
		return errors.New("native code is empty: expected a static Linux executable")
	}
	if !bytes.HasPrefix(code, []byte(elf.ELFMAG)) {
		what := "not an ELF executable"
		switch {
		case bytes.HasPrefix(code, []byte("#!")):
			what = "a script, not an ELF executable (the native runtime has no interpreters)"
		case bytes.HasPrefix(code, []byte("PK\x03\x04")):
			what = "a zip, not an ELF executable"
		case bytes.HasPrefix(code, []byte("\x00asm")):
			what = "a WebAssembly module, not an ELF executable (use kind wasm)"
		}
		return fmt.Errorf("native code is %s: expected a static Linux %s executable", what, runtime.GOARCH)
	}
	return checkELF(bytes.NewReader(code))
}

// CheckNativeFile is CheckNative of the executable at path; it reads its
// headers only.
func CheckNativeFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("native code: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("native code: %w", err)
	}
	return CheckNativeAt(f, fi.Size())
}

// CheckNativeAt is CheckNative of an executable read in place; it reads
// its headers only.
func CheckNativeAt(r io.ReaderAt, size int64) error {
	head := make([]byte, min(16, size))
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("native code: read it: %w", err)
	}
	if !bytes.HasPrefix(head[:n], []byte(elf.ELFMAG)) {
		return CheckNative(head[:n]) // says what it is instead
	}
	return checkELF(io.NewSectionReader(r, 0, size))
}

// checkELF checks an ELF file's machine, type and static linking.
func checkELF(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("native code is a malformed ELF file: %w", err)
	}
	defer f.Close()
	if f.Machine != hostMachine {
		return fmt.Errorf("native code is an ELF executable for %s, but this machine runs %s (%s)", machineName(f.Machine), runtime.GOARCH, machineName(hostMachine))
	}
	switch f.Type {
	case elf.ET_EXEC:
	case elf.ET_DYN:
		if f.Entry == 0 {
			return errors.New("native code is a shared library (ET_DYN without an entry point), not an executable")
		}
	default:
		return fmt.Errorf("native code is an ELF %s, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		interp := make([]byte, min(p.Filesz, 4096))
		n, _ := p.ReadAt(interp, 0)
		name := string(bytes.TrimRight(interp[:n], "\x00"))
		return fmt.Errorf("native code is dynamically linked (interpreter %q), but the native runtime has no libc or loader: link it statically (for Go: CGO_ENABLED=0; for C: -static)", name)
	}
	return nil
}

func machineName(m elf.Machine) string {
	s := m.String()
	if len(s) > 3 && s[:3] == "EM_" {
		return s[3:]
	}
	return s
}

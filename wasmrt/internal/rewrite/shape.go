package rewrite

import "fmt"

// External kinds of the binary format.
const (
	ExternFunc   = 0
	ExternTable  = 1
	ExternMemory = 2
	ExternGlobal = 3
	ExternTag    = 4
)

// Import is one entry of a module's import section.
type Import struct {
	Module, Name string
	Kind         byte // one of the Extern kinds
}

// Shape is what a host needs to know of a module beyond what wazero's
// CompiledModule tells: every import (wazero lists only imported functions
// and memories), the exports by kind, and the minimum size of the module's
// own memory.
type Shape struct {
	Imports     []Import
	Exports     map[string]byte // name -> extern kind
	MemMinPages uint32          // minimum pages of the module's own memory; 0 if none
}

// ReadShape reads the import, memory and export sections of a module
// whose header was checked, with the reader Module uses. Anything it does
// not understand is an error.
func ReadShape(wasm []byte) (Shape, error) {
	s := Shape{Exports: map[string]byte{}}
	secs, err := splitSections(wasm)
	if err != nil {
		return s, err
	}
	for _, sec := range secs {
		r := &reader{b: sec.payload}
		switch sec.id {
		case secImport:
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				im := Import{Module: r.name(), Name: r.name(), Kind: r.byte()}
				switch im.Kind {
				case ExternFunc:
					r.u32()
				case ExternTable:
					r.byte() // reference type
					r.limits()
				case ExternMemory:
					r.limits()
				case ExternGlobal:
					r.byte() // value type
					r.byte() // mutability
				case ExternTag:
					r.byte()
					r.u32()
				default:
					r.fail("unknown import kind %#x", im.Kind)
				}
				s.Imports = append(s.Imports, im)
			}
		case secMemory:
			if n := r.u32(); n > 0 {
				s.MemMinPages = r.limits()
			}
		case secExport:
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				name := r.name()
				kind := r.byte()
				r.u32()
				s.Exports[name] = kind
			}
		}
		if r.err != nil {
			return s, fmt.Errorf("section %d: %w", sec.id, r.err)
		}
	}
	return s, nil
}

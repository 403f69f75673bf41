package core

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// MaxNameLength is the longest entity or namespace name, as in OpenWhisk.
const MaxNameLength = 256

// DefaultNamespace is the path segment that stands for the caller's own
// namespace ("_" in OpenWhisk).
const DefaultNamespace = "_"

// validName is OpenWhisk's entity name rule, its regular expression
// ^(\w|\w[\w@ .-]*[\w@.-]+)$ checked by hand: word characters (ASCII
// letters, digits, '_'), with '@', ' ', '.' and '-' allowed after the first,
// and no trailing space. Every invoke checks its action's name, and the
// regular expression cost ~0.8% of wispd's CPU under load; a test checks
// the two against each other.
func validName(name string) bool {
	if name == "" || !isWordChar(name[0]) || name[len(name)-1] == ' ' {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isWordChar(c) && c != '@' && c != ' ' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isWordChar reports whether c is in regexp's \w: [0-9A-Za-z_].
func isWordChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// ValidateName checks one segment of an entity path (a namespace, package or
// action name). what names the segment in the error ("action name").
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return Errorf(CodeInvalid, "The %s is missing.", what)
	case len(name) > MaxNameLength:
		return Errorf(CodeInvalid, "The %s is %d characters long; the limit is %d.", what, len(name), MaxNameLength)
	case !validName(name):
		return Errorf(CodeInvalid, "The %s %q is not valid: use letters, digits and _, with @ . - or space inside.", what, name)
	}
	return nil
}

// EntityPath names an entity inside a namespace, optionally in a package.
type EntityPath struct {
	Namespace string
	Package   string // "" when the entity is not in a package
	Name      string
}

// ParseActionName parses "name" or "pkg/name" as found after /actions/ in an
// API path, in the namespace ns.
func ParseActionName(ns, rest string) (EntityPath, error) {
	p := EntityPath{Namespace: ns}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		p.Name = parts[0]
	case 2:
		p.Package, p.Name = parts[0], parts[1]
		if err := ValidateName("package name", p.Package); err != nil {
			return p, err
		}
	default:
		return p, Errorf(CodeInvalid, "The action name %q has too many parts: use name or package/name.", rest)
	}
	return p, ValidateName("action name", p.Name)
}

// Qualified is the entity's namespace path as OpenWhisk shows it in the
// "namespace" field: "ns" or "ns/pkg".
func (p EntityPath) Qualified() string {
	if p.Package == "" {
		return p.Namespace
	}
	return p.Namespace + "/" + p.Package
}

// Relative is the name inside the namespace: "name" or "pkg/name".
func (p EntityPath) Relative() string {
	if p.Package == "" {
		return p.Name
	}
	return p.Package + "/" + p.Name
}

// String is the fully qualified name "/ns/pkg/name".
func (p EntityPath) String() string { return "/" + p.Namespace + "/" + p.Relative() }

// lastID is the previous activation id of this process, so that ids made
// within one millisecond still sort in the order they were made.
var lastID struct {
	sync.Mutex
	b [16]byte
}

// NewActivationID returns a fresh 32-hex-digit activation id. The first 12
// digits are the Unix time in milliseconds, so that ids sort by creation
// time (listings need newest first); the rest is random. Within one
// millisecond, a process's ids increase (the previous id plus one, as
// ULIDs' monotonic mode does); across processes they sort to the
// millisecond.
func NewActivationID(now time.Time) string {
	var b [16]byte
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixMilli()))
	copy(b[:6], ts[2:])
	lastID.Lock()
	if bytes.Compare(b[:6], lastID.b[:6]) <= 0 {
		// Same (or an earlier) millisecond: count up from the last id.
		b = lastID.b
		for i := len(b) - 1; i >= 6; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	} else if _, err := rand.Read(b[6:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	lastID.b = b
	lastID.Unlock()
	return hex.EncodeToString(b[:])
}

// ValidActivationID reports whether id has the form of an activation id.
func ValidActivationID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

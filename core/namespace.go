package core

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Namespace is a tenant: it owns entities and activations, and has one
// credential pair (OpenWhisk's "uuid:key").
type Namespace struct {
	Name    string `json:"name"`
	UUID    string `json:"uuid"`
	Key     string `json:"key"`
	Created int64  `json:"created"` // Unix milliseconds
}

// Auth is the credential string "uuid:key".
func (n *Namespace) Auth() string { return n.UUID + ":" + n.Key }

// Matches reports whether key is this namespace's key, in constant time.
func (n *Namespace) Matches(key string) bool {
	return subtle.ConstantTimeCompare([]byte(n.Key), []byte(key)) == 1
}

// ParseAuth splits "uuid:key" and checks both parts look like credentials.
func ParseAuth(auth string) (uuid, key string, err error) {
	uuid, key, ok := strings.Cut(auth, ":")
	if !ok || !validUUID(uuid) || len(key) < 8 || len(key) > 128 {
		return "", "", Errorf(CodeInvalid, "The auth %q is not of the form UUID:KEY (a UUID, a colon, and a key of 8 to 128 characters).", redact(auth))
	}
	return uuid, key, nil
}

// NewCredentials returns a fresh random UUID (version 4) and a 64-character key.
func NewCredentials() (uuid, key string) {
	var u [16]byte
	var k [32]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	if _, err := rand.Read(k[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], hex.EncodeToString(k[:])
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// redact keeps an auth string out of error messages and logs.
func redact(auth string) string {
	uuid, _, ok := strings.Cut(auth, ":")
	if !ok {
		return "…"
	}
	return uuid + ":…"
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/store"
)

// GuestNamespace is the namespace created on first start, as in OpenWhisk.
const GuestNamespace = "guest"

// GuestAuthFile is where the guest key is kept in a data directory.
func GuestAuthFile(data string) string { return filepath.Join(data, "guest.auth") }

// dataLock is an exclusive lock on a data directory: two processes must
// never open the same JetStream store.
type dataLock struct{ f *os.File }

func lockData(data string) (*dataLock, error) {
	path := filepath.Join(data, "wispd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("the data directory %s is in use by another wispd (pid %s); stop it or use another --data", data, strings.TrimSpace(string(pid)))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dataLock{f: f}, nil
}

func (l *dataLock) release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// ensureGuest makes sure the guest namespace exists with the configured
// key (--guest-auth), or with the one kept in the data directory, or with
// a new one. It returns the key and whether the namespace was created now.
func ensureGuest(ctx context.Context, s *store.Store, data, guestAuth string) (auth string, created bool, err error) {
	file := GuestAuthFile(data)
	want := strings.TrimSpace(guestAuth)
	if want != "" {
		if _, _, err := core.ParseAuth(want); err != nil {
			return "", false, fmt.Errorf("the guest auth: %w", err)
		}
	}
	ns, err := s.GetNamespace(ctx, GuestNamespace)
	switch {
	case err == nil && (want == "" || ns.Auth() == want):
		auth = ns.Auth()
	case err == nil:
		// The operator gave a new guest key: it replaces the stored one.
		if err := s.DeleteNamespace(ctx, GuestNamespace); err != nil {
			return "", false, err
		}
		if _, err := s.CreateNamespace(ctx, GuestNamespace, want); err != nil {
			return "", false, fmt.Errorf("set the guest key: %w", err)
		}
		auth = want
	case core.ErrorCodeOf(err) == core.CodeNotFound:
		ns, err := s.CreateNamespace(ctx, GuestNamespace, want)
		if err != nil {
			return "", false, fmt.Errorf("create the guest namespace: %w", err)
		}
		auth, created = ns.Auth(), true
	default:
		return "", false, err
	}
	if err := writeFileAtomic(file, []byte(auth+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("keep the guest key in %s: %w", file, err)
	}
	return auth, created, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}

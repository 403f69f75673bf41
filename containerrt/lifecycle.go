package containerrt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wispfaas/wisp/containerrt/container"
)

// This file holds what the pool does to containers in the kernel: start,
// pause, resume, destroy, and noticing one that died. Each runs outside
// Runtime.mu (they take milliseconds) and under the member's op lock.

const (
	// opTimeout bounds a pause, resume or state read.
	opTimeout = 10 * time.Second
	// destroyTimeout bounds killing and removing one container.
	destroyTimeout = 30 * time.Second
	// startTimeout bounds starting a stem cell in the background.
	startTimeout = time.Minute
	// stemBackoff is how long the refiller leaves a kind alone after a
	// stem cell of it failed to start, so that a broken runtime does not
	// make it spin.
	stemBackoff = 5 * time.Second
)

// newID names a container: "wisp-" and 12 random hex digits.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "wisp-" + hex.EncodeToString(b[:])
}

// tmpMB is the size of a container's /tmp (a tmpfs, counted against its
// memory limit): a quarter of its memory, at least 8 MB.
func tmpMB(memMB int) int {
	return max(8, memMB/4)
}

// startMember creates and starts a container of img with the given memory
// limit and network grant, its action directory empty. The member is not
// yet in the pool (status starting); the caller registers it.
func (r *Runtime) startMember(ctx context.Context, img *runtimeImage, key stemKey, network bool) (*member, error) {
	id := newID()
	dir := filepath.Join(r.actionRoot, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create action directory: %w", err)
	}
	// The container runs as an unprivileged user: the directory must be
	// searchable whatever the umask.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create action directory: %w", err)
	}
	c, err := r.mgr.Start(ctx, container.Spec{
		ID:        id,
		Rootfs:    img.Rootfs,
		Args:      img.Args,
		Env:       img.Env,
		Cwd:       img.Cwd,
		ActionDir: dir,
		MemoryMB:  key.memMB,
		PidsLimit: r.cfg.PidsLimit,
		TmpMB:     tmpMB(key.memMB),
		Network:   network,
		Cgroups:   img.Cgroups,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start a %s container: %w", img.Kind, err)
	}
	m := &member{id: id, key: key, actionDir: dir, c: c, created: time.Now(), status: StatusStarting, memCounted: true}
	go r.watch(m)
	return m, nil
}

// register adds a started member to the pool with status to. It fails
// (and destroys the member) when the pool closed meanwhile.
func (r *Runtime) register(m *member, to Status) error {
	r.mu.Lock()
	if r.p.closed {
		r.mu.Unlock()
		r.destroy(m)
		return errClosed
	}
	if err := m.setStatus(to); err != nil {
		r.mu.Unlock()
		r.destroy(m)
		return err
	}
	r.p.members[m] = struct{}{}
	if to == StatusStem {
		r.p.stems[m.key] = append(r.p.stems[m.key], m)
	}
	r.mu.Unlock()
	return nil
}

// watch removes m when its action loop dies while nobody uses it (a stem
// cell or an idle container killed from outside); an activation that is
// using it sees the death itself.
func (r *Runtime) watch(m *member) {
	select {
	case <-m.c.Done():
	case <-r.stopCh:
		return
	}
	r.mu.Lock()
	switch m.status {
	case StatusStem, StatusReady, StatusPaused:
		r.log.Warn("idle container died; removing it", "container", m.id, "status", m.status.String(), "owner", m.owner)
		r.discardLocked(m)
		r.p.stats.Crashed++
	default:
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.destroy(m)
}

// destroy kills and removes m (already out of the pool), deletes its
// action directory and gives its memory back to the budget.
func (r *Runtime) destroy(m *member) {
	m.op.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), destroyTimeout)
	err := m.c.Destroy(ctx)
	cancel()
	m.broken = true
	m.op.Unlock()
	if err != nil {
		r.log.Error("destroy container", "container", m.id, "err", err)
	}
	if err := os.RemoveAll(m.actionDir); err != nil {
		r.log.Warn("remove action directory", "container", m.id, "err", err)
	}
	r.mu.Lock()
	if m.memCounted {
		m.memCounted = false
		r.p.used -= m.key.memMB
		r.dispatchLocked()
	}
	r.mu.Unlock()
}

// destroyAll destroys ms, a few at a time.
func (r *Runtime) destroyAll(ms []*member) {
	if len(ms) == 1 {
		r.destroy(ms[0])
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, m := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			r.destroy(m)
			<-sem
		}()
	}
	wg.Wait()
}

// remove takes m out of the pool, if it is still in it, and destroys it.
func (r *Runtime) remove(m *member) {
	r.mu.Lock()
	if m.status == StatusRemoved {
		r.mu.Unlock()
		return
	}
	r.discardLocked(m)
	r.mu.Unlock()
	r.destroy(m)
}

// release gives back a container that served an activation: idle for its
// owner (handed at once to a queued activation of the same owner, if
// any), or removed when it is not reusable.
func (r *Runtime) release(m *member, reusable bool) {
	r.mu.Lock()
	if m.status == StatusRemoved {
		r.mu.Unlock()
		return
	}
	if !reusable || r.p.closed {
		r.discardLocked(m)
		r.mu.Unlock()
		r.destroy(m)
		return
	}
	if err := m.setStatus(StatusReady); err != nil {
		r.log.Error("release container", "err", err)
		r.discardLocked(m)
		r.mu.Unlock()
		r.destroy(m)
		return
	}
	m.lastUsed = time.Now()
	r.p.idle[m.owner] = append(r.p.idle[m.owner], m)
	r.dispatchLocked()
	if m.status == StatusReady {
		r.armIdleLocked(m)
	}
	r.mu.Unlock()
}

// armIdleLocked starts the timer of an idle container: pause after
// PauseGrace, or removal after IdleTimeout when pausing is off.
func (r *Runtime) armIdleLocked(m *member) {
	m.gen++
	gen := m.gen
	switch {
	case r.cfg.PauseGrace >= 0:
		m.timer = time.AfterFunc(r.cfg.PauseGrace, func() { r.pauseIdle(m, gen) })
	case r.cfg.IdleTimeout >= 0:
		m.timer = time.AfterFunc(r.cfg.IdleTimeout, func() { r.expire(m, gen) })
	}
}

// pauseIdle freezes m if it is still the idle container it was when the
// timer was set (gen), after checking in the kernel that its process is
// alive. A claimant that takes m meanwhile waits on m.op and resumes it.
func (r *Runtime) pauseIdle(m *member, gen uint64) {
	m.op.Lock()
	r.mu.Lock()
	live := m.gen == gen && m.status == StatusReady && !r.p.closed
	r.mu.Unlock()
	if !live || m.broken {
		m.op.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	st, err := m.c.State(ctx)
	var problem error
	switch {
	case err != nil:
		problem = fmt.Errorf("read state: %w", err)
	case st == container.Paused:
		m.frozen = true
	case st != container.Running:
		problem = fmt.Errorf("its process is %s", st)
	default:
		if err := m.c.Pause(ctx); err != nil {
			problem = fmt.Errorf("pause: %w", err)
		} else {
			m.frozen = true
		}
	}
	cancel()
	if problem != nil {
		m.broken = true
	}
	m.op.Unlock()

	r.mu.Lock()
	if m.gen != gen || m.status != StatusReady {
		// Claimed while it was being paused: the claimant resumes it, or
		// finds it broken and removes it.
		r.mu.Unlock()
		return
	}
	if problem != nil {
		r.log.Warn("idle container unusable; removing it", "container", m.id, "owner", m.owner, "err", problem)
		r.discardLocked(m)
		r.p.stats.Crashed++
		r.mu.Unlock()
		r.destroy(m)
		return
	}
	_ = m.setStatus(StatusPaused)
	r.p.stats.Pauses++
	if r.cfg.IdleTimeout >= 0 {
		m.timer = time.AfterFunc(r.cfg.IdleTimeout, func() { r.expire(m, gen) })
	}
	r.mu.Unlock()
}

// expire removes m if it is still idle since the timer was set (gen).
func (r *Runtime) expire(m *member, gen uint64) {
	r.mu.Lock()
	if m.gen != gen || (m.status != StatusPaused && m.status != StatusReady) {
		r.mu.Unlock()
		return
	}
	r.discardLocked(m)
	r.p.stats.Expired++
	r.mu.Unlock()
	r.destroy(m)
}

// wake makes a claimed idle container ready to run. One that pauseIdle
// froze has its state re-read from the kernel and is resumed (or found
// dead); one never frozen since its last activation only has its process
// checked (the reaper's exit notice): the state read costs more than a
// warm activation should. It fails when the container is gone or cannot
// be resumed; the caller removes it.
func (r *Runtime) wake(ctx context.Context, m *member) error {
	m.op.Lock()
	defer m.op.Unlock()
	if m.broken {
		return fmt.Errorf("container %s is unusable", m.id)
	}
	if !m.frozen {
		select {
		case <-m.c.Done():
			m.broken = true
			return fmt.Errorf("container %s: its action loop has exited", m.id)
		default:
			return nil
		}
	}
	// Resume re-reads the state from the kernel (the pidfd, the freezer)
	// before it thaws; reading it here first as well cost as much again.
	err := m.c.Resume(ctx)
	var se *container.StateError
	switch {
	case err == nil:
		m.frozen = false
		r.mu.Lock()
		r.p.stats.Resumes++
		r.mu.Unlock()
		return nil
	case errors.As(err, &se) && se.State == container.Running:
		// Thawed behind the pool's back: rare, so worth the full state
		// read (which also catches a loop dying as a zombie) before it is
		// used as it is.
		if st, err := m.c.State(ctx); err != nil || st != container.Running {
			m.broken = true
			return fmt.Errorf("container %s was thawed outside the pool and is %v (%v)", m.id, st, err)
		}
		m.frozen = false
		return nil
	case errors.As(err, &se):
		m.broken = true
		return fmt.Errorf("container %s is %s", m.id, se.State)
	default:
		if ctx.Err() == nil {
			m.broken = true
		}
		return fmt.Errorf("resume container %s: %w", m.id, err)
	}
}

// kickRefill asks the refiller to look for missing stem cells.
func (r *Runtime) kickRefill() {
	select {
	case r.refillCh <- struct{}{}:
	default:
	}
}

// refiller keeps the configured stem cells started, one at a time, in
// the background, while no activation waits and the budget has room: it
// never evicts anything to make room for a stem cell.
func (r *Runtime) refiller() {
	defer close(r.refillDone)
	if r.cfg.StemsAfter != nil {
		select {
		case <-r.stopCh:
			return
		case <-r.cfg.StemsAfter:
		}
	}
	for {
		select {
		case <-r.stopCh:
			return
		case <-r.refillCh:
		}
		for {
			key, img, ok := r.nextStem()
			if !ok {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
			m, err := r.startMember(ctx, img, key, false)
			cancel()
			r.mu.Lock()
			r.p.starting[key]--
			if err != nil {
				r.p.used -= key.memMB
				r.p.backoff[key] = time.Now().Add(stemBackoff)
				r.dispatchLocked()
				r.mu.Unlock()
				r.log.Error("start stem cell", "kind", key.kind, "memory_mb", key.memMB, "err", err)
				time.AfterFunc(stemBackoff, r.kickRefill)
				continue
			}
			r.mu.Unlock()
			if err := r.register(m, StatusStem); err != nil {
				return // closed
			}
			r.log.Debug("stem cell started", "container", m.id, "kind", key.kind, "memory_mb", key.memMB, "took", time.Since(m.created))
			r.mu.Lock()
			r.dispatchLocked()
			r.mu.Unlock()
		}
	}
}

// nextStem picks a stem cell to start, reserving its memory, or reports
// that none should be started now.
func (r *Runtime) nextStem() (stemKey, *runtimeImage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p.closed || len(r.p.queue) > 0 {
		return stemKey{}, nil, false
	}
	now := time.Now()
	for _, s := range r.stems {
		if r.stemCountLocked(s.key) >= s.count || now.Before(r.p.backoff[s.key]) {
			continue
		}
		if r.p.used+s.key.memMB > r.cfg.MemoryBudgetMB {
			continue
		}
		img := r.builtImage(s.key.kind)
		if img == nil {
			continue
		}
		r.p.starting[s.key]++
		r.p.used += s.key.memMB
		return s.key, img, true
	}
	return stemKey{}, nil, false
}

package queue

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// puller keeps a pull consumer's messages coming to one handler, as
// jetstream's Consume does, with the bookkeeping in the handler's own
// goroutine.
//
// Why not Consume? Its count of the messages requested and not yet
// received is kept by the handler's goroutine, but its pull requests are
// sent by another, which marks a request "in flight" until it has been
// written; the handler skips asking for more while a request is in flight.
// Under load that goroutine can be descheduled after the write, the
// request's messages arrive and are handled meanwhile, and the handler,
// seeing a request in flight each time, never asks again: the consumer
// has messages, the server has no request, the client waits for
// messages, and only the missed idle heartbeats end it, after twice the
// heartbeat interval (30 s by default). It happened about once a minute
// on this machine at full load (instrumented: every message requested had
// been delivered and handled, with no request outstanding). Here a request
// is published from the handler's goroutine, right where the count
// changes, so the count and the requests cannot disagree; a watchdog
// still re-asks if nothing, not even a heartbeat, arrives for a while (a
// reconnect, or a request the server dropped).
type puller struct {
	nc      *nats.Conn
	api     string // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
	sub     *nats.Subscription
	batch   int
	request []byte // the pull request for a full batch is built once
	hb      time.Duration
	handle  func(*nats.Msg)
	log     *slog.Logger

	mu          sync.Mutex
	outstanding int       // messages requested and not yet received
	busy        bool      // the handler is running: no news is expected
	heard       time.Time // when a message or heartbeat last arrived
	stopped     bool

	stopWatch chan struct{}
	watchDone chan struct{}
	closed    chan struct{}
}

// Pull request settings: a request lives pullExpires on the server, which
// sends an idle heartbeat every pullHeartbeat while it has nothing to
// deliver.
const (
	pullExpires   = 30 * time.Second
	pullHeartbeat = 5 * time.Second
)

func startPuller(nc *nats.Conn, stream, consumer string, batch int, handle func(*nats.Msg), log *slog.Logger) (*puller, error) {
	if batch < 1 {
		batch = 1
	}
	p := &puller{
		nc: nc, api: "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer, batch: batch,
		hb: pullHeartbeat, handle: handle, log: log, heard: time.Now(),
		stopWatch: make(chan struct{}), watchDone: make(chan struct{}), closed: make(chan struct{}),
	}
	sub, err := nc.Subscribe(nc.NewInbox(), p.receive)
	if err != nil {
		return nil, err
	}
	// A pending limit well above the batch: messages never exceed it.
	_ = sub.SetPendingLimits(-1, -1)
	sub.SetClosedHandler(func(string) { close(p.closed) })
	p.sub = sub
	p.mu.Lock()
	p.topUpLocked()
	p.mu.Unlock()
	go p.watch()
	return p, nil
}

// receive runs on the subscription's goroutine, one message at a time.
func (p *puller) receive(m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		p.status(m)
		return
	}
	p.mu.Lock()
	p.outstanding--
	p.heard = time.Now()
	p.busy = true
	p.mu.Unlock()

	p.handle(m)

	p.mu.Lock()
	p.busy = false
	p.heard = time.Now()
	p.topUpLocked()
	p.mu.Unlock()
}

// status handles the server's status messages: idle heartbeats, and the
// end of a request (expired, or refused) with what it had left.
func (p *puller) status(m *nats.Msg) {
	code := m.Header.Get("Status")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heard = time.Now()
	if code == "100" { // idle heartbeat (or flow control, which pull consumers do not use)
		return
	}
	if left, err := strconv.Atoi(m.Header.Get("Nats-Pending-Messages")); err == nil {
		p.outstanding -= left // the request ended with left undelivered
		if p.outstanding < 0 {
			p.outstanding = 0
		}
	} else {
		// A refusal without counts (a consumer deleted, a bad request):
		// start over, after a pause so as not to spin.
		p.log.Warn("activation consumer: the server refused a pull request", "status", code, "description", m.Header.Get("Description"))
		p.outstanding = p.batch // nothing more is asked until the watchdog resets it
		p.heard = time.Now()
		return
	}
	p.topUpLocked()
}

// topUpLocked asks for more messages once half the batch has arrived.
// p.mu is held.
func (p *puller) topUpLocked() {
	if p.stopped || p.outstanding > p.batch/2 {
		return
	}
	n := p.batch - p.outstanding
	req := p.request
	if n != p.batch || req == nil {
		req = pullRequest(n)
		if n == p.batch {
			p.request = req
		}
	}
	if err := p.nc.PublishRequest(p.api, p.sub.Subject, req); err != nil {
		p.log.Warn("activation consumer: pull request", "err", err)
		return // the watchdog asks again
	}
	p.outstanding += n
}

func pullRequest(n int) []byte {
	b, _ := json.Marshal(struct {
		Batch     int           `json:"batch"`
		Expires   time.Duration `json:"expires"`
		Heartbeat time.Duration `json:"idle_heartbeat"`
	}{n, pullExpires, pullHeartbeat})
	return b
}

// watch asks again when nothing has arrived for two heartbeat intervals
// while the handler was idle and messages were requested: the server has
// lost the requests (or the connection was lost).
func (p *puller) watch() {
	defer close(p.watchDone)
	t := time.NewTicker(p.hb)
	defer t.Stop()
	for {
		select {
		case <-p.stopWatch:
			return
		case now := <-t.C:
			p.mu.Lock()
			if !p.stopped && !p.busy && now.Sub(p.heard) > 2*p.hb {
				if p.outstanding > 0 {
					p.log.Debug("activation consumer: no news from the server; asking again", "outstanding", p.outstanding)
				}
				p.outstanding = 0
				p.heard = now
				p.topUpLocked()
			}
			p.mu.Unlock()
		}
	}
}

// drain stops asking for messages and hands those already received to the
// handler, returning when it has seen them all or timeout passes.
func (p *puller) drain(timeout time.Duration) error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	close(p.stopWatch)
	<-p.watchDone
	if err := p.sub.Drain(); err != nil {
		return fmt.Errorf("drain activation consumer: %w", err)
	}
	select {
	case <-p.closed:
		return nil
	case <-time.After(timeout):
		_ = p.sub.Unsubscribe()
		return fmt.Errorf("drain activation consumer: not done within %v", timeout)
	}
}

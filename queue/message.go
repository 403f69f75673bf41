package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/wispfaas/wisp/core"
)

// Activation messages are encoded in a compact binary form, not JSON: the
// gateway encodes and the invoker decodes one per activation, and
// encoding/json cost more than the rest of both together (see
// docs/rationale.md). The form, version 3:
//
//	0x03
//	10 × uvarint: the lengths of ActivationID, Namespace, Subject, ReplyTo,
//	              Action.Namespace, Action.Name, Action.Version, Action.Kind,
//	              Action.Digest, Action.Main
//	7 × varint:   Queued, Action.Limits.Timeout, .Memory, .Logs,
//	              .Concurrency, Action.Updated, flags (bit 0: Action.Binary,
//	              bit 1: Action.Network)
//	the 10 strings, one after the other
//	Params: the rest of the message
//
// A message that begins with '{' is the JSON form that earlier versions
// wrote (with the whole action); it is still read, so that activations
// queued before an upgrade run after it, and so are version 1 (0x01),
// which had no Action.Updated, and version 2 (0x02), which had neither
// Action.Main nor the flags.
const (
	invocationV1 = 0x01
	invocationV2 = 0x02
	invocationV3 = 0x03
)

const invocationStrings = 10

// Flags of version 3.
const (
	flagBinary  = 1 << 0
	flagNetwork = 1 << 1
)

// EncodeInvocation returns inv in the queue's binary form.
func EncodeInvocation(inv *core.Invocation) []byte {
	a := &inv.Action
	strs := [invocationStrings]string{inv.ActivationID, inv.Namespace, inv.Subject, inv.ReplyTo, a.Namespace, a.Name, a.Version, a.Kind, a.Digest, a.Main}
	var flags int64
	if a.Binary {
		flags |= flagBinary
	}
	if a.Network {
		flags |= flagNetwork
	}
	ints := [...]int64{inv.Queued, int64(a.Limits.Timeout), int64(a.Limits.Memory), int64(a.Limits.Logs), int64(a.Limits.Concurrency), a.Updated, flags}
	n := 1 + len(strs)*binary.MaxVarintLen32 + len(ints)*binary.MaxVarintLen64 + len(inv.Params)
	for _, s := range strs {
		n += len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, invocationV3)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
	}
	for _, v := range ints {
		b = binary.AppendVarint(b, v)
	}
	for _, s := range strs {
		b = append(b, s...)
	}
	return append(b, inv.Params...)
}

var errBadInvocation = errors.New("malformed activation message")

// DecodeInvocation reads a message written by EncodeInvocation (or the
// JSON form of earlier versions) into inv. inv.Params aliases data.
func DecodeInvocation(data []byte, inv *core.Invocation) error {
	if len(data) > 0 && data[0] == '{' {
		return decodeLegacyInvocation(data, inv)
	}
	if len(data) == 0 {
		return errBadInvocation
	}
	var nInts, nStrs int
	switch data[0] {
	case invocationV1:
		nInts, nStrs = 5, 9
	case invocationV2:
		nInts, nStrs = 6, 9
	case invocationV3:
		nInts, nStrs = 7, 10
	default:
		return errBadInvocation
	}
	pos := 1
	var lens [invocationStrings]int
	total := 0
	for i := range nStrs {
		v, n := binary.Uvarint(data[pos:])
		if n <= 0 || v > uint64(len(data)) {
			return errBadInvocation
		}
		lens[i], pos, total = int(v), pos+n, total+int(v)
	}
	var ints [7]int64
	for i := range nInts {
		v, n := binary.Varint(data[pos:])
		if n <= 0 {
			return errBadInvocation
		}
		ints[i], pos = v, pos+n
	}
	if total > len(data)-pos {
		return errBadInvocation
	}
	for _, v := range ints[1:5] {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return errBadInvocation
		}
	}
	all := string(data[pos : pos+total]) // one allocation for every string
	var strs [invocationStrings]string
	off := 0
	for i, l := range lens {
		strs[i], off = all[off:off+l], off+l
	}
	*inv = core.Invocation{
		ActivationID: strs[0], Namespace: strs[1], Subject: strs[2], ReplyTo: strs[3],
		Action: core.InvokedAction{
			Namespace: strs[4], Name: strs[5], Version: strs[6], Kind: strs[7], Digest: strs[8], Main: strs[9],
			Limits:  core.Limits{Timeout: int(ints[1]), Memory: int(ints[2]), Logs: int(ints[3]), Concurrency: int(ints[4])},
			Updated: ints[5],
			Binary:  ints[6]&flagBinary != 0,
			Network: ints[6]&flagNetwork != 0,
		},
		Params: data[pos+total:],
		Queued: ints[0],
	}
	return nil
}

// decodeLegacyInvocation reads the JSON form of earlier versions, which
// carried the whole action.
func decodeLegacyInvocation(data []byte, inv *core.Invocation) error {
	var old struct {
		ActivationID string          `json:"activationId"`
		Namespace    string          `json:"namespace"`
		Subject      string          `json:"subject"`
		Action       core.Action     `json:"action"`
		Params       json.RawMessage `json:"params"`
		ReplyTo      string          `json:"replyTo"`
		Queued       int64           `json:"queued"`
	}
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("%w: %w", errBadInvocation, err)
	}
	*inv = core.Invocation{
		ActivationID: old.ActivationID, Namespace: old.Namespace, Subject: old.Subject,
		Action: old.Action.Invoked(), Params: old.Params, ReplyTo: old.ReplyTo, Queued: old.Queued,
	}
	return nil
}

// Result messages carry the activation record (JSON, as stored) after a
// header that spares the gateway decoding it:
//
//	0x01
//	the status code (one byte)
//	the offsets of response.result within the message (two big-endian uint32)
//	the length of the ack subject (big-endian uint16), then the subject
//
// The ack subject is the activation's JetStream acknowledgement subject
// when the gateway is to acknowledge it (once the record is stored, see
// Results), or empty when the invoker has done so. A message that begins
// with '{' is a bare record (earlier versions), needing nothing.
const (
	resultV1        = 0x01
	resultFixedLen  = 12
	maxAckSubject   = 1<<16 - 1
	resultAckLenPos = 10
)

// Result is an activation's outcome as a blocking caller receives it.
type Result struct {
	// Record is the activation record, JSON.
	Record []byte
	// StatusCode is the record's response.statusCode.
	StatusCode int
	// Value is the record's response.result (a slice of Record); nil when
	// the record has none.
	Value []byte
	// AckSubject acknowledges the activation once its record is stored;
	// "" when the invoker has done it.
	AckSubject string
	// release gives the buffer behind Record back to the invoker that
	// lent it (in process); nil otherwise.
	release func()
}

// LentResult is a Result whose Record lives in a buffer of its maker,
// which release takes back: the receiver calls Release once it no longer
// reads Record or Value.
func LentResult(record []byte, statusCode, resultStart, resultEnd int, release func()) Result {
	r := Result{Record: record, StatusCode: statusCode, release: release}
	if resultStart < resultEnd {
		r.Value = record[resultStart:resultEnd]
	}
	return r
}

// Release says the receiver no longer reads r's bytes. It may be called
// on any Result, once.
func (r *Result) Release() {
	if r.release != nil {
		r.release()
		r.release, r.Record, r.Value = nil, nil, nil
	}
}

// AppendResultHeader begins a result message at the end of dst (which
// must be empty: the message starts at dst[0]), to be acknowledged by the
// gateway on ackSubject, or not when it is "". Append the record to it,
// then call FinishResultMessage.
func AppendResultHeader(dst []byte, ackSubject string) []byte {
	if len(ackSubject) > maxAckSubject {
		ackSubject = "" // never: JetStream's ack subjects are short
	}
	var fixed [resultFixedLen]byte
	binary.BigEndian.PutUint16(fixed[resultAckLenPos:], uint16(len(ackSubject)))
	return append(append(dst, fixed[:]...), ackSubject...)
}

// FinishResultMessage writes the header of msg, whose record (appended
// after the header) has statusCode and its result at msg[resultStart:resultEnd].
func FinishResultMessage(msg []byte, statusCode, resultStart, resultEnd int) {
	msg[0] = resultV1
	msg[1] = byte(statusCode)
	binary.BigEndian.PutUint32(msg[2:6], uint32(resultStart))
	binary.BigEndian.PutUint32(msg[6:10], uint32(resultEnd))
}

// ResultRecord is the record of a result message: what is stored.
func ResultRecord(msg []byte) []byte {
	return msg[resultFixedLen+int(binary.BigEndian.Uint16(msg[resultAckLenPos:])):]
}

// DecodeResult reads a result message. The Result aliases data.
func DecodeResult(data []byte) (Result, error) {
	if len(data) > 0 && data[0] == '{' {
		var rec struct {
			Response core.Response `json:"response"`
		}
		if err := json.Unmarshal(data, &rec); err != nil {
			return Result{}, fmt.Errorf("decode activation record: %w", err)
		}
		return Result{Record: data, StatusCode: rec.Response.StatusCode, Value: rec.Response.Result}, nil
	}
	if len(data) < resultFixedLen || data[0] != resultV1 {
		return Result{}, errors.New("malformed result message")
	}
	head := resultFixedLen + int(binary.BigEndian.Uint16(data[resultAckLenPos:]))
	start, end := binary.BigEndian.Uint32(data[2:6]), binary.BigEndian.Uint32(data[6:10])
	if head > len(data) || start > end || uint64(end) > uint64(len(data)) || (start < end && int(start) < head) {
		return Result{}, errors.New("malformed result message: out of bounds")
	}
	res := Result{Record: data[head:], StatusCode: int(data[1]), AckSubject: string(data[resultFixedLen:head])}
	if start < end {
		res.Value = data[start:end]
	}
	return res, nil
}

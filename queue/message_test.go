package queue

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/wispfaas/wisp/core"
)

func TestInvocationCodec(t *testing.T) {
	tests := []core.Invocation{
		{},
		{
			ActivationID: "0123456789abcdef0123456789abcdef", Namespace: "guest", Subject: "guest",
			Action: core.InvokedAction{Namespace: "guest/pkg", Name: "héllo wörld@1", Version: "0.0.12", Kind: "wasm",
				Digest: "sha256:abcd", Limits: core.Limits{Timeout: 300_000, Memory: 2048, Logs: 10, Concurrency: 1}, Updated: 1_795_634_258_236,
				Main: "handler", Binary: true, Network: true},
			Params:  json.RawMessage(`{"a":[1,2,{"b":"c"}]}`),
			ReplyTo: ReplySubject("gw-1", "0123456789abcdef0123456789abcdef"),
			Queued:  1_764_000_000_123_456_789,
		},
		{Action: core.InvokedAction{Limits: core.Limits{Timeout: -1}}, Queued: -5, Params: json.RawMessage(`{}`)},
		{Action: core.InvokedAction{Kind: "python:3", Binary: true}, Params: json.RawMessage(`{}`)},
		{Action: core.InvokedAction{Kind: "nodejs:20", Network: true}, Params: json.RawMessage(`{}`)},
	}
	for _, want := range tests {
		var got core.Invocation
		if err := DecodeInvocation(EncodeInvocation(&want), &got); err != nil {
			t.Fatal(err)
		}
		if len(want.Params) == 0 {
			want.Params = json.RawMessage{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

// Activations queued by an earlier version (JSON, with the whole action)
// still decode after an upgrade.
func TestInvocationLegacyJSON(t *testing.T) {
	a := core.Action{Namespace: "guest", Name: "hello", Version: "0.0.3", Exec: core.Exec{Kind: "wasm", Binary: true, Digest: "sha256:ff"},
		Annotations: core.KeyValues{}.Set("exec", "wasm"), Parameters: core.KeyValues{}.Set("p", 1), Limits: core.DefaultLimits(), Updated: 7}
	old := struct {
		ActivationID string          `json:"activationId"`
		Namespace    string          `json:"namespace"`
		Subject      string          `json:"subject"`
		Action       core.Action     `json:"action"`
		Params       json.RawMessage `json:"params"`
		ReplyTo      string          `json:"replyTo,omitempty"`
		Queued       int64           `json:"queued"`
	}{"0123456789abcdef0123456789abcdef", "guest", "guest", a, json.RawMessage(`{"p":1}`), "done.gw.x", 42}
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var got core.Invocation
	if err := DecodeInvocation(data, &got); err != nil {
		t.Fatal(err)
	}
	want := core.Invocation{ActivationID: old.ActivationID, Namespace: "guest", Subject: "guest", Action: a.Invoked(),
		Params: json.RawMessage(`{"p":1}`), ReplyTo: "done.gw.x", Queued: 42}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("legacy:\n got %+v\nwant %+v", got, want)
	}
}

func TestInvocationDecodeRefusesGarbage(t *testing.T) {
	good := EncodeInvocation(&core.Invocation{ActivationID: "abc", Namespace: "ns", Params: json.RawMessage(`{}`)})
	for _, bad := range [][]byte{nil, {}, {2}, {invocationV1}, good[:3], {invocationV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte("{not json")} {
		var inv core.Invocation
		if err := DecodeInvocation(bad, &inv); err == nil {
			t.Errorf("DecodeInvocation(%q) = nil error", bad)
		}
	}
}

func FuzzDecodeInvocation(f *testing.F) {
	f.Add(EncodeInvocation(&core.Invocation{ActivationID: "a", Params: json.RawMessage(`{}`)}))
	f.Add([]byte{invocationV1, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		var inv core.Invocation
		if DecodeInvocation(data, &inv) != nil || (len(data) > 0 && data[0] == '{') {
			return
		}
		// What decodes encodes back to the same bytes.
		var again core.Invocation
		if err := DecodeInvocation(EncodeInvocation(&inv), &again); err != nil || !reflect.DeepEqual(normal(inv), normal(again)) {
			t.Fatalf("re-encoding %+v gave %+v, %v", inv, again, err)
		}
	})
}

func normal(inv core.Invocation) core.Invocation {
	if len(inv.Params) == 0 {
		inv.Params = nil
	}
	return inv
}

func TestResultMessage(t *testing.T) {
	rec := &core.Activation{ActivationID: "x", Response: core.NewResponse(core.StatusApplicationError, json.RawMessage(`{"error":"no"}`)), StatusCode: 1}
	want, _ := json.Marshal(rec)
	for _, ack := range []string{"", "$JS.ACK.WISP_INVOKE.invoker-a.1.2.3.4.0"} {
		msg, rs, re := rec.AppendJSON(AppendResultHeader(nil, ack))
		FinishResultMessage(msg, rec.StatusCode, rs, re)
		if string(ResultRecord(msg)) != string(want) {
			t.Fatalf("record = %s, want %s", ResultRecord(msg), want)
		}
		res, err := DecodeResult(msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Record) != string(want) || res.StatusCode != 1 || string(res.Value) != `{"error":"no"}` || res.AckSubject != ack {
			t.Fatalf("DecodeResult = %+v", res)
		}
	}
	// A bare record, as earlier versions sent.
	if res, err := DecodeResult(want); err != nil || res.StatusCode != 1 || string(res.Value) != `{"error":"no"}` || res.AckSubject != "" {
		t.Fatalf("DecodeResult(bare record) = %+v, %v", res, err)
	}
	rec.Response.Result = nil
	msg, rs, re := rec.AppendJSON(AppendResultHeader(nil, ""))
	FinishResultMessage(msg, rec.StatusCode, rs, re)
	if res, err := DecodeResult(msg); err != nil || res.Value != nil {
		t.Fatalf("no result: %+v, %v", res, err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, {1, 0, 0, 0, 0, 99, 0, 0, 0, 100, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}} {
		if _, err := DecodeResult(bad); err == nil {
			t.Errorf("DecodeResult(%v) = nil error", bad)
		}
	}
}

func BenchmarkInvocationCodec(b *testing.B) {
	inv := &core.Invocation{
		ActivationID: "0123456789abcdef0123456789abcdef", Namespace: "guest", Subject: "guest",
		Action:  core.InvokedAction{Namespace: "guest", Name: "hello", Version: "0.0.1", Kind: "wasm", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Limits: core.DefaultLimits()},
		Params:  json.RawMessage(`{}`),
		ReplyTo: ReplySubject("host-123-1", "0123456789abcdef0123456789abcdef"),
		Queued:  1_764_000_000_123_456_789,
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = EncodeInvocation(inv)
		}
	})
	data := EncodeInvocation(inv)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		var got core.Invocation
		for b.Loop() {
			_ = DecodeInvocation(data, &got)
		}
	})
}

// TestInvocationV1StillRead: messages of version 1 (no Action.Updated),
// queued before an upgrade, are read after it.
func TestInvocationV1StillRead(t *testing.T) {
	strs := []string{"id", "guest", "guest", "", "guest", "hello", "0.0.1", "wasm", "sha256:ab"}
	b := []byte{invocationV1}
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
	}
	for _, v := range []int64{42, 1000, 256, 10, 1} {
		b = binary.AppendVarint(b, v)
	}
	for _, s := range strs {
		b = append(b, s...)
	}
	b = append(b, `{"a":1}`...)
	var inv core.Invocation
	if err := DecodeInvocation(b, &inv); err != nil {
		t.Fatal(err)
	}
	if inv.ActivationID != "id" || inv.Action.Name != "hello" || inv.Action.Limits.Memory != 256 || inv.Action.Updated != 0 || inv.Queued != 42 || string(inv.Params) != `{"a":1}` {
		t.Fatalf("decoded %+v", inv)
	}
}

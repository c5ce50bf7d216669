package checkpoint

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// FuzzDecode feeds arbitrary bytes to the decoder. It calls decode, not
// Decode, so that a panic in this package or in the safetensors library
// fails the run instead of being recovered. Run it with
//
//	go test ./internal/checkpoint -run '^$' -fuzz FuzzDecode -fuzztime 60s
//
// Properties: no panic; every error is a one-line *formatError; and any
// input that decodes re-encodes to a checkpoint that decodes to the same
// value, so Decode accepts nothing that Encode could not have written.
func FuzzDecode(f *testing.F) {
	f.Add(mustEncode(f, tinyCheckpoint()))
	for _, tc := range corruptCases(f) {
		// Large seeds only slow the fuzzer down; the huge-header case is
		// covered by TestDecodeErrors.
		if len(tc.data) < 4096 {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decode(data)
		if err != nil {
			var fe *formatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is a %T, want *formatError", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error spans several lines: %q", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, c); err != nil {
			t.Fatalf("Encode of a decoded checkpoint failed: %v", err)
		}
		again, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("Decode of a re-encoded checkpoint failed: %v", err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the checkpoint:\n got %+v\nwant %+v", again.Meta, c.Meta)
		}
	})
}

// FuzzDecodeMetadata fuzzes the fields of a well-formed safetensors file,
// which byte-level fuzzing rarely reaches intact past the JSON header: the
// metadata strings and the tensor shapes. Properties are as for FuzzDecode.
func FuzzDecodeMetadata(f *testing.F) {
	m := validMeta(f)
	f.Add(m["classes"], m["input_shape"], m["metrics"], m["lr"], m["epochs"], m["seed"], uint8(4), uint8(3), uint8(3))
	f.Add(`["a","b"]`, "[1,1,1]", `{"x":1e308}`, "-0", "+7", "-9223372036854775808", uint8(1), uint8(2), uint8(2))
	f.Add(`["a","a"]`, "[0]", "null", "1e400", "1.0", "0x10", uint8(0), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, classes, inputShape, metrics, lr, epochs, seed string, rows, cols, bLen uint8) {
		meta := validMeta(t)
		meta["classes"], meta["input_shape"], meta["metrics"] = classes, inputShape, metrics
		meta["lr"], meta["epochs"], meta["seed"] = lr, epochs, seed
		data := build(t, map[string]tensor{
			"W": {dtype: safetensors.F32, shape: []uint64{uint64(rows), uint64(cols)}},
			"b": {dtype: safetensors.F32, shape: []uint64{uint64(bLen)}},
		}, meta)
		c, err := decode(data)
		if err != nil {
			var fe *formatError
			if !errors.As(err, &fe) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("bad error %T %q", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, c); err != nil {
			t.Fatalf("Encode of a decoded checkpoint failed: %v", err)
		}
		again, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("Decode of a re-encoded checkpoint failed: %v", err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the checkpoint:\n got %+v\nwant %+v", again.Meta, c.Meta)
		}
	})
}

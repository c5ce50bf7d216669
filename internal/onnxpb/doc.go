// Package onnxpb holds the Go types of ONNX's protobuf schema, so that
// export-onnx writes (and its tests read back) .onnx files with
// google.golang.org/protobuf instead of hand-made wire bytes.
//
// onnx.pb.go is generated from onnx.proto, copied unchanged from ONNX
// 1.12.0 as Debian bookworm's python3-onnx (1.12.0-2) ships it
// (/usr/lib/python3/dist-packages/onnx/onnx.proto): the schema of the very
// checker that CI runs on the exported files. onnx.proto is © ONNX Project
// Contributors under the Apache License 2.0 (its SPDX header is kept; the
// licence text is LICENSE-ONNX).
//
// To generate it again: Debian's protobuf-compiler (protoc 3.21.12) and
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//
// then, in this folder, `go generate` runs:
//
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/softmaxctl/softmaxctl/internal/onnxpb onnx.proto
package onnxpb

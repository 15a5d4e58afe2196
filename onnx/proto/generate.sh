#!/usr/bin/env bash
# Regenerates onnx/onnx.pb.go from onnx/proto/onnx.proto.
#
# onnx.proto is ONNX 1.12's schema (Debian's python3-onnx ships it at
# /usr/lib/python3/dist-packages/onnx/onnx.proto) with three edits:
#   - package renamed to dcnet.onnx, so these types link beside any other Go
#     ONNX library (two packages registering "onnx.ModelProto" panic at init);
#   - newer fields added by number (NodeProto 8-9, FunctionProto 11-14) and the
#     newer TensorProto data types 17-23.
#   - option go_package.
# Needs: protoc (Debian protobuf-compiler) and
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$(go env GOPATH)/bin:$PATH"
command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
cd "$here"
protoc --go_out=.. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/dcnet-go/dcnet/onnx onnx.proto

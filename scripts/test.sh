#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine with Go 1.26:
#   1. installs the test dependencies (scripts/setup.sh: Debian packages, ONNX Runtime for Node.js);
#   2. exports the torchvision reference zoo and its ONNX Runtime outputs (models/torchvision/reference.sh;
#      skipped for models already exported);
#   3. go vet and go test over every package.
# Extra arguments go to `go test` (e.g. scripts/test.sh -run NodeConformance).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
models/torchvision/reference.sh
go vet ./...
go test -timeout 45m "$@" ./...

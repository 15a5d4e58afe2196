#!/usr/bin/env bash
# Installs what the tests and the reference scripts need on a fresh Debian machine:
# Debian packages (ONNX node tests, Python ONNX/numpy/PyTorch for the reference scripts,
# Fashion-MNIST, protoc) and ONNX Runtime 1.30 for Node.js (the reference runtime).
# Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(libonnx-testdata python3-onnx python3-numpy python3-torch python3-torchvision
	dataset-fashion-mnist protobuf-compiler)
missing=()
for p in "${apt_packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js may come from elsewhere than Debian; only install it when absent.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
	echo "setup: installing onnxruntime-node (tools/ort)"
	(cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

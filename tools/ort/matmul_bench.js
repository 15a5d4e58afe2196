#!/usr/bin/env node
'use strict';
// matmul_bench.js measures ONNX Runtime's float32 MatMul throughput in GFLOP/s.
//
// usage: node matmul_bench.js [--size 2048] [--threads N] [--runs R] [--warmup W] [--json]
//
// The model Y = A·B (A, B, Y: [size, size] float32, both operands are graph inputs, opset
// 13) is encoded by hand as ONNX protobuf bytes, so no Python is needed. GFLOP/s =
// 2·size³ / median seconds / 1e9.

const { ort, parseArgs, intFlag, createSession } = require('./common');
const fs = require('fs');
const os = require('os');
const path = require('path');

// varint encodes a non-negative integer as a protobuf base-128 varint.
function varint(n) {
  const bytes = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    bytes.push(b);
  } while (v > 0n);
  return Buffer.from(bytes);
}

// field encodes one protobuf field: wire type 0 for numbers, 2 for strings and messages.
function field(number, value) {
  if (typeof value === 'number') return Buffer.concat([varint(number << 3), varint(value)]);
  const payload = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  return Buffer.concat([varint((number << 3) | 2), varint(payload.length), payload]);
}

const msg = (...fields) => Buffer.concat(fields);

// squareFloatInput encodes a ValueInfoProto for a float32 [size, size] tensor.
function squareFloatInput(name, size) {
  const dim = msg(field(1, size)); // TensorShapeProto.Dimension.dim_value
  const shape = msg(field(1, dim), field(1, dim)); // TensorShapeProto.dim ×2
  const tensorType = msg(field(1, 1), field(2, shape)); // elem_type FLOAT, shape
  return msg(field(1, name), field(2, msg(field(1, tensorType)))); // name, TypeProto.tensor_type
}

// matmulModel encodes a ModelProto (IR 7, opset 13) computing Y = MatMul(A, B).
function matmulModel(size) {
  const node = msg(field(1, 'A'), field(1, 'B'), field(2, 'Y'), field(3, 'matmul'), field(4, 'MatMul'));
  const graph = msg(
    field(1, node),
    field(2, `matmul_${size}`),
    field(11, squareFloatInput('A', size)),
    field(11, squareFloatInput('B', size)),
    field(12, squareFloatInput('Y', size)),
  );
  const opset = msg(field(1, ''), field(2, 13));
  return msg(field(1, 7), field(2, 'dcnet-ort-tools'), field(7, graph), field(8, opset));
}

// filled returns n deterministic values in [-1, 1).
function filled(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

async function main() {
  const { flags } = parseArgs(process.argv.slice(2), ['json']);
  const size = intFlag(flags, 'size', 2048);
  const threads = intFlag(flags, 'threads', 1);
  const runs = Math.max(1, intFlag(flags, 'runs', 10));
  const warmup = intFlag(flags, 'warmup', 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'matmul-bench-'));
  const modelPath = path.join(dir, 'matmul.onnx');
  try {
    fs.writeFileSync(modelPath, matmulModel(size));
    const session = await createSession(modelPath, threads);
    const feeds = {
      A: new ort.Tensor('float32', filled(size * size, 1), [size, size]),
      B: new ort.Tensor('float32', filled(size * size, 2), [size, size]),
    };
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor((times.length - 1) / 2)];
    const gflops = (2 * size ** 3) / median / 1e9;
    const result = { size, threads, runs, median_ms: median * 1e3, gflops, best_gflops: (2 * size ** 3) / times[0] / 1e9 };
    if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
    else process.stdout.write(`MatMul ${size}³, ${threads} thread(s): ${gflops.toFixed(1)} GFLOP/s (median ${result.median_ms.toFixed(1)} ms, best ${result.best_gflops.toFixed(1)})\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { matmulModel };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`matmul_bench.js: ${err.message}\n`);
    process.exit(1);
  });
}

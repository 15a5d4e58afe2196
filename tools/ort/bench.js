#!/usr/bin/env node
'use strict';
// bench.js measures ONNX Runtime (CPU execution provider) latency for one model.
//
// usage: node bench.js MODEL.onnx [--threads N] [--batch B] [--runs R] [--warmup W]
//                      [--input FILE.npy] [--seed S] [--opt LEVEL] [--per-op] [--json]
//
// Sessions use intraOpNumThreads = N, interOpNumThreads = 1 and sequential execution.
// The first (float32) input is fed either FILE.npy or deterministic standard-normal
// noise; --batch B replaces its first dimension (ONNX Runtime rejects B on a static
// batch dimension that differs). Other dynamic dimensions need --input. Every other
// model input must be absent. Reported: median, p90 (nearest rank), min latency in ms,
// and throughput = B * 1000 / median_ms images per second.
//
// --per-op turns ONNX Runtime's profiler on (for the timed runs' session; its trace goes
// to a temporary directory and is removed) and adds the median time of every executed
// kernel over the timed runs, summed per operator type, in the form of
// `dcrun bench --per-op --json` (per_op: total_ms, op_types, steps). ONNX Runtime's node
// and operator names are those of its optimised graph (FusedConv, ReorderInput, ...).

const npy = require('./npy');
const { ort, parseArgs, intFlag, createSession, toTensor, inputMeta } = require('./common');

const fs = require('fs');
const os = require('os');
const path = require('path');

const USAGE = 'usage: node bench.js MODEL.onnx [--threads N] [--batch B] [--runs R] [--warmup W] [--input FILE.npy] [--seed S] [--per-op] [--json]';

// normalNoise returns n deterministic standard-normal floats (mulberry32 + Box-Muller).
function normalNoise(n, seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

// inputShape resolves the shape fed to the benchmark: the model's declared shape with the
// first dimension replaced by batch (when batch > 0). Symbolic dims other than the first
// cannot be guessed.
function inputShape(meta, batch) {
  if (!meta || !meta.shape || meta.shape.length === 0) {
    throw new Error(`input '${meta ? meta.name : '?'}' has no declared shape; pass --input`);
  }
  const first = meta.shape[0];
  if (batch > 0 && typeof first === 'number' && first >= 0 && first !== batch) {
    throw new Error(`input '${meta.name}' has a static batch dimension ${first}; cannot run batch ${batch}`);
  }
  return meta.shape.map((d, i) => {
    if (i === 0 && batch > 0) return batch;
    if (typeof d === 'number' && d >= 0) return d;
    throw new Error(`input '${meta.name}' dimension ${i} is dynamic ('${d}'); pass --input`);
  });
}

// makeFeeds builds the single input tensor for the benchmark.
function makeFeeds(session, flags, batch) {
  if (session.inputNames.length !== 1) {
    throw new Error(`bench.js supports one-input models; this one has [${session.inputNames.join(', ')}]`);
  }
  const name = session.inputNames[0];
  const meta = inputMeta(session, name);
  if (flags.input) {
    const arr = npy.read(flags.input);
    return { feeds: { [name]: toTensor(arr, meta && meta.type, flags.input) }, batch: arr.shape[0] };
  }
  if (meta && meta.type && meta.type !== 'float32') {
    throw new Error(`input '${name}' is ${meta.type}; random inputs are float32 only, pass --input`);
  }
  const shape = inputShape(meta, batch);
  const count = shape.reduce((a, b) => a * b, 1);
  const seed = intFlag(flags, 'seed', 1);
  return { feeds: { [name]: new ort.Tensor('float32', normalNoise(count, seed), shape) }, batch: shape[0] };
}

// percentile returns the nearest-rank p-quantile of sorted values.
function percentile(sorted, p) {
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

async function timeRuns(session, feeds, warmup, runs) {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

function median(sorted) {
  return sorted.length % 2 === 1
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
}

// perOp reads an ONNX Runtime profile: the last `runs` model_run events, and the kernel
// events inside each, and returns the median time per kernel and the sums per op type.
function perOp(profile, runs) {
  const events = JSON.parse(fs.readFileSync(profile, 'utf8'));
  const modelRuns = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(-runs);
  const byNode = new Map();
  for (const run of modelRuns) {
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < run.ts || e.ts > run.ts + run.dur) continue;
      const node = e.name.slice(0, -'_kernel_time'.length);
      if (!byNode.has(node)) byNode.set(node, { node, op_type: (e.args && e.args.op_name) || '?', samples: [] });
      byNode.get(node).samples.push(e.dur / 1000);
    }
  }
  const steps = [];
  const types = new Map();
  let total = 0;
  for (const s of byNode.values()) {
    const ms = median(s.samples.sort((a, b) => a - b));
    steps.push({ node: s.node, op_type: s.op_type, median_ms: ms });
    total += ms;
    const t = types.get(s.op_type) || { op_type: s.op_type, steps: 0, ms: 0, share: 0 };
    t.steps += 1;
    t.ms += ms;
    types.set(s.op_type, t);
  }
  const opTypes = [...types.values()].sort((a, b) => b.ms - a.ms);
  for (const t of opTypes) t.share = total > 0 ? t.ms / total : 0;
  return { runs: modelRuns.length, total_ms: total, op_types: opTypes, steps };
}

async function main() {
  const { positional, flags } = parseArgs(process.argv.slice(2), ['json', 'per-op']);
  if (positional.length !== 1) throw new Error(USAGE);
  const threads = intFlag(flags, 'threads', 1);
  const runs = Math.max(1, intFlag(flags, 'runs', 20));
  const warmup = intFlag(flags, 'warmup', 3);
  const session = await createSession(positional[0], threads, flags.opt);
  const { feeds, batch } = makeFeeds(session, flags, intFlag(flags, 'batch', 1));
  const sorted = await timeRuns(session, feeds, warmup, runs);
  let perOpResult;
  if (flags['per-op']) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
    try {
      const prof = await createSession(positional[0], threads, flags.opt, path.join(dir, 'ort'));
      await timeRuns(prof, feeds, warmup, runs);
      await prof.endProfiling();
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
      if (files.length !== 1) throw new Error(`--per-op: expected one profile in ${dir}, found ${files.length}`);
      perOpResult = perOp(path.join(dir, files[0]), runs);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const med = median(sorted);
  const result = {
    median_ms: med,
    p90_ms: percentile(sorted, 0.9),
    min_ms: sorted[0],
    throughput: (batch * 1000) / med,
    runs,
    threads,
    batch,
  };
  if (perOpResult) result.per_op = perOpResult;
  if (flags.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  process.stdout.write(`${positional[0]}: batch ${batch}, ${threads} thread(s), ${runs} runs\n`
    + `  median ${med.toFixed(3)} ms  p90 ${result.p90_ms.toFixed(3)} ms  min ${result.min_ms.toFixed(3)} ms\n`
    + `  throughput ${result.throughput.toFixed(1)} images/s\n`);
  if (perOpResult) {
    process.stdout.write(`per op: medians of ${perOpResult.runs} profiled runs, ${perOpResult.total_ms.toFixed(3)} ms\n`);
    for (const t of perOpResult.op_types) {
      process.stdout.write(`  ${t.op_type.padEnd(24)} ${String(t.steps).padStart(5)} ${t.ms.toFixed(3).padStart(10)} ${(100 * t.share).toFixed(1).padStart(6)}%\n`);
    }
  }
}

main().catch((err) => {
  process.stderr.write(`bench.js: ${err.message}\n`);
  process.exit(1);
});

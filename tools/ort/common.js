'use strict';
// Helpers shared by run.js, bench.js and matmul_bench.js: argument parsing, session
// creation with the CPU execution provider, and conversion of .npy arrays to tensors.

const ort = require('onnxruntime-node');

// parseArgs splits argv into positional arguments and --flag values. Flags listed in
// booleans take no value; every other flag consumes the next argument (or uses --k=v).
function parseArgs(argv, booleans = []) {
  const positional = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (eq >= 0) flags[key] = arg.slice(eq + 1);
    else if (booleans.includes(key)) flags[key] = true;
    else if (i + 1 < argv.length) flags[key] = argv[++i];
    else throw new Error(`flag --${key} needs a value`);
  }
  return { positional, flags };
}

// intFlag reads a positive integer flag, falling back to def when absent.
function intFlag(flags, key, def) {
  if (flags[key] === undefined) return def;
  const v = Number(flags[key]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${key} must be a non-negative integer, got '${flags[key]}'`);
  return v;
}

// createSession opens a model on the CPU execution provider with sequential execution,
// intra-op threads = threads (0 lets ONNX Runtime choose), one inter-op thread and the
// default graph optimisation level (ORT_ENABLE_ALL) unless optLevel is given; with
// profilePrefix, profiling on, its trace written to profilePrefix_<date>.json.
async function createSession(modelPath, threads, optLevel, profilePrefix) {
  const options = {
    executionProviders: ['cpu'],
    executionMode: 'sequential',
    interOpNumThreads: 1,
  };
  if (profilePrefix) {
    options.enableProfiling = true;
    options.profileFilePrefix = profilePrefix;
  }
  if (threads > 0) options.intraOpNumThreads = threads;
  if (optLevel) options.graphOptimizationLevel = optLevel;
  return ort.InferenceSession.create(modelPath, options);
}

// castData converts a typed array from one tensor type to another (e.g. a float64 .npy
// fed to a float32 input).
function castData(data, from, to, label) {
  if (from === to) return data;
  const floats = { float32: Float32Array, float64: Float64Array };
  const ints = { int32: Int32Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array };
  if (floats[to]) return floats[to].from(data, Number);
  if (to === 'int64') {
    if (floats[from]) throw new Error(`${label}: refusing to cast ${from} data to int64`);
    return BigInt64Array.from(data, (v) => BigInt(v));
  }
  if (ints[to] && !floats[from]) return ints[to].from(data, Number);
  throw new Error(`${label}: cannot feed ${from} data to a ${to} input`);
}

// toTensor wraps an array read by npy.read as an ONNX Runtime tensor of the input's type.
function toTensor(array, wantType, label) {
  const type = wantType || array.dtype;
  return new ort.Tensor(type, castData(array.data, array.dtype, type, label), array.shape);
}

// inputMeta returns the metadata record of the named model input (may be undefined).
function inputMeta(session, name) {
  return (session.inputMetadata || []).find((m) => m.name === name);
}

module.exports = { ort, parseArgs, intFlag, createSession, toTensor, inputMeta };

#!/usr/bin/env node
'use strict';
// run.js runs a model once with ONNX Runtime (CPU execution provider, default graph
// optimisations) on .npy inputs and writes every output as a float32 .npy file.
//
// usage: node run.js MODEL.onnx IN.npy... --out DIR [--threads N] [--names a,b] [--opt LEVEL]
//
// Inputs are matched to the model's inputs in order, or to the names given by --names.
// Each output is written to DIR/<sanitised output name>.npy; the mapping from output
// names to files is printed as JSON on stdout.

const fs = require('fs');
const path = require('path');
const npy = require('./npy');
const { parseArgs, intFlag, createSession, toTensor, inputMeta } = require('./common');

const USAGE = 'usage: node run.js MODEL.onnx IN.npy... --out DIR [--threads N] [--names a,b] [--opt disabled|basic|extended|all]';

// sanitise turns an output name into a safe file name stem.
function sanitise(name) {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return cleaned.length > 0 ? cleaned : '_';
}

// outputFiles maps each output name to a unique file name inside dir.
function outputFiles(names, dir) {
  const used = new Set();
  const files = {};
  for (const name of names) {
    let stem = sanitise(name);
    for (let k = 1; used.has(stem.toLowerCase()); k++) stem = `${sanitise(name)}_${k}`;
    used.add(stem.toLowerCase());
    files[name] = path.join(dir, `${stem}.npy`);
  }
  return files;
}

// bindInputs reads the .npy files and pairs them with input names.
function bindInputs(session, files, names) {
  const targets = names || session.inputNames;
  if (files.length !== targets.length) {
    throw new Error(`got ${files.length} input file(s) for ${targets.length} input(s) [${targets.join(', ')}]`);
  }
  const feeds = {};
  files.forEach((file, i) => {
    const name = targets[i];
    if (!session.inputNames.includes(name)) {
      throw new Error(`model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    const meta = inputMeta(session, name);
    feeds[name] = toTensor(npy.read(file), meta && meta.type, `${file} → input '${name}'`);
  });
  return feeds;
}

async function main() {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  if (positional.length < 1 || !flags.out) throw new Error(USAGE);
  const [model, ...inputs] = positional;
  const names = flags.names ? String(flags.names).split(',').map((s) => s.trim()) : null;
  const session = await createSession(model, intFlag(flags, 'threads', 0), flags.opt);
  const feeds = bindInputs(session, inputs, names);
  const results = await session.run(feeds);
  fs.mkdirSync(flags.out, { recursive: true });
  const files = outputFiles(session.outputNames, flags.out);
  const report = {};
  for (const name of session.outputNames) {
    const t = results[name];
    if (t.type === 'string') throw new Error(`output '${name}' is a string tensor; cannot write it as float32`);
    npy.writeFloat32(files[name], t.data, t.dims);
    report[name] = { file: files[name], type: t.type, shape: t.dims };
  }
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => {
  process.stderr.write(`run.js: ${err.message}\n`);
  process.exit(1);
});

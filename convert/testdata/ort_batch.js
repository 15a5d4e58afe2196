#!/usr/bin/env node
'use strict';
// ort_batch.js runs several models with ONNX Runtime (CPU, one thread, default graph
// optimisations) in one Node.js process, so that the converter tests do not pay for
// starting Node.js and loading the library once per model. It reuses the helpers of
// tools/ort (run.js is the one-model version).
//
// usage: node ort_batch.js JOBS.json
//
// JOBS.json is a list of {"model": PATH, "inputs": {NAME: NPY_PATH, ...}, "out": DIR};
// every output of each model is written as DIR/<output name>.npy (float32).

const fs = require('fs');
const path = require('path');
const tools = path.join(__dirname, '..', '..', 'tools', 'ort');
const npy = require(path.join(tools, 'npy'));
const { createSession, toTensor, inputMeta } = require(path.join(tools, 'common'));

async function runJob(job) {
  const session = await createSession(job.model, 1);
  const feeds = {};
  for (const [name, file] of Object.entries(job.inputs)) {
    const meta = inputMeta(session, name);
    feeds[name] = toTensor(npy.read(file), meta && meta.type, `${file} → input '${name}'`);
  }
  const results = await session.run(feeds);
  fs.mkdirSync(job.out, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    npy.writeFloat32(path.join(job.out, name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy'), t.data, t.dims);
  }
}

async function main() {
  if (process.argv.length !== 3) throw new Error('usage: node ort_batch.js JOBS.json');
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) {
    try {
      await runJob(job);
    } catch (err) {
      throw new Error(`${job.model}: ${err.message}`);
    }
  }
}

main().catch((err) => {
  process.stderr.write(`ort_batch.js: ${err.message}\n`);
  process.exit(1);
});

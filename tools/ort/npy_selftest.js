#!/usr/bin/env node
'use strict';
// npy_selftest.js checks npy.js against NumPy itself (run: npm run selftest).
//
// NumPy (/usr/bin/python3, override with $PYTHON) writes arrays of several dtypes,
// shapes and header versions; npy.js must read back the same values. npy.js then writes
// float32 arrays that NumPy must load exactly. Exits non-zero on any mismatch.

const assert = require('assert');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const npy = require('./npy');

const PYTHON = process.env.PYTHON || '/usr/bin/python3';

// Each case: file stem, NumPy expression, save version.
const CASES = [
  ['f4_4d', "rng.standard_normal((2, 3, 4, 5)).astype('<f4')", '(1, 0)'],
  ['f4_v2', "rng.standard_normal((3, 7)).astype('<f4')", '(2, 0)'],
  ['f4_scalar', "np.array(1.5, dtype='<f4')", '(1, 0)'],
  ['f4_1d', "np.arange(5, dtype='<f4')", '(1, 0)'],
  ['f4_empty', "np.zeros((0, 3), dtype='<f4')", '(1, 0)'],
  ['f8', "rng.standard_normal((4, 2))", '(1, 0)'],
  ['i8', "np.array([[-(2**40), 3], [7, 2**62]], dtype='<i8')", '(1, 0)'],
  ['i4', "np.array([-5, 0, 9], dtype='<i4')", '(1, 0)'],
  ['u1', "np.array([0, 200, 255], dtype='u1')", '(1, 0)'],
  ['b1', "np.array([True, False, True])", '(1, 0)'],
];

function python(script) {
  return execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' });
}

// writeCases makes NumPy save every case and returns the values it saved as JSON.
function writeCases(dir) {
  const lines = CASES.map(([stem, expr, version]) => `
a = ${expr}
with open(os.path.join(d, '${stem}.npy'), 'wb') as f:
    np.lib.format.write_array(f, a, version=${version})
out['${stem}'] = {'shape': list(a.shape), 'values': [str(v) for v in a.ravel().tolist()]}`);
  return JSON.parse(python(`import json, os, numpy as np
rng = np.random.default_rng(7)
d = ${JSON.stringify(dir)}
out = {}
${lines.join('\n')}
np.save(os.path.join(d, 'big_endian.npy'), np.ones(3, dtype='>f4'))
np.save(os.path.join(d, 'fortran.npy'), np.asfortranarray(np.ones((2, 3), dtype='<f4')))
print(json.dumps(out))`));
}

// sameValue compares a decoded element with NumPy's printed value.
function sameValue(got, want, dtype) {
  if (dtype === 'int64') return got === BigInt(want);
  if (dtype === 'bool') return got === (want === 'True' ? 1 : 0);
  if (dtype === 'float32') return got === Math.fround(Number(want));
  return got === Number(want);
}

function checkReads(dir, expected) {
  for (const [stem] of CASES) {
    const arr = npy.read(path.join(dir, `${stem}.npy`));
    const want = expected[stem];
    assert.deepStrictEqual(arr.shape, want.shape, `${stem}: shape`);
    assert.strictEqual(arr.data.length, want.values.length, `${stem}: length`);
    arr.data.forEach((v, i) => {
      assert.ok(sameValue(v, want.values[i], arr.dtype), `${stem}[${i}]: got ${v}, want ${want.values[i]}`);
    });
  }
  for (const bad of ['big_endian', 'fortran']) {
    assert.throws(() => npy.read(path.join(dir, `${bad}.npy`)), /not supported|unsupported dtype/, `${bad} must be rejected`);
  }
}

function checkWrites(dir) {
  const values = Float32Array.from({ length: 24 }, (_, i) => Math.fround((i - 11.5) / 3));
  npy.writeFloat32(path.join(dir, 'w3d.npy'), values, [2, 3, 4]);
  npy.writeFloat32(path.join(dir, 'w1d.npy'), values.subarray(0, 5), [5]);
  npy.writeFloat32(path.join(dir, 'w0d.npy'), [2.5], []);
  const report = python(`import numpy as np, os
d = ${JSON.stringify(dir)}
a = np.load(os.path.join(d, 'w3d.npy'))
want = ((np.arange(24, dtype=np.float64) - 11.5) / 3).astype(np.float32).reshape(2, 3, 4)
assert a.dtype == np.float32 and a.shape == (2, 3, 4) and np.array_equal(a, want), a
b = np.load(os.path.join(d, 'w1d.npy'))
assert b.shape == (5,) and np.array_equal(b, want.ravel()[:5]), b
c = np.load(os.path.join(d, 'w0d.npy'))
assert c.shape == () and c == np.float32(2.5), c
print('ok')`);
  assert.strictEqual(report.trim(), 'ok');
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-selftest-'));
try {
  checkReads(dir, writeCases(dir));
  checkWrites(dir);
  process.stdout.write(`npy selftest: ${CASES.length} NumPy files read, 3 written files verified by NumPy\n`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

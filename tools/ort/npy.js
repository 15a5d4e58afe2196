'use strict';
// Minimal reader and writer for NumPy .npy files (format versions 1.0, 2.0 and 3.0).
//
// Only little-endian (or byte-order free) C-ordered arrays are supported. The reader
// returns { dtype, shape, data } where dtype is an ONNX Runtime tensor type name
// ('float32', 'float64', 'int64', 'int32', 'uint8', 'int8', 'bool') and data is the
// matching typed array (bool is returned as a Uint8Array of 0/1). The writer stores
// float32 arrays as '<f4'.

const fs = require('fs');

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"
const HEADER_ALIGNMENT = 64;

// descr → [tensor type name, bytes per element, typed array constructor].
const DESCRS = {
  '<f4': ['float32', 4, Float32Array],
  '<f8': ['float64', 8, Float64Array],
  '<i8': ['int64', 8, BigInt64Array],
  '<i4': ['int32', 4, Int32Array],
  '|u1': ['uint8', 1, Uint8Array],
  '|i1': ['int8', 1, Int8Array],
  '|b1': ['bool', 1, Uint8Array],
};

// parseHeader extracts descr, fortran_order and shape from a .npy header dictionary
// such as "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }".
function parseHeader(text, file) {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const order = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !order || !shape) {
    throw new Error(`${file}: malformed .npy header ${JSON.stringify(text)}`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const parsed = dims.map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`${file}: bad dimension '${s}' in .npy shape`);
    return Number(s);
  });
  return { descr: descr[1], fortranOrder: order[1] === 'True', shape: parsed };
}

// headerLength returns [header text length, offset of the text] for a given format version.
function headerLength(buf, major, file) {
  if (major === 1) return [buf.readUInt16LE(8), 10];
  if (major === 2 || major === 3) return [buf.readUInt32LE(8), 12];
  throw new Error(`${file}: unsupported .npy format version ${major}`);
}

// normaliseDescr maps byte-order-free spellings ('=f4', '<u1') onto the table keys.
function normaliseDescr(descr) {
  if (descr.length < 2) return descr;
  const kind = descr.slice(1);
  if (descr[0] === '=') return (kind.endsWith('1') ? '|' : '<') + kind;
  if (descr[0] === '<' && kind.endsWith('1') && kind.length === 2) return '|' + kind;
  return descr;
}

// decode parses the bytes of a whole .npy file.
function decode(buf, file = '<buffer>') {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new Error(`${file}: not a .npy file (bad magic)`);
  }
  const major = buf[6];
  const [len, start] = headerLength(buf, major, file);
  if (start + len > buf.length) throw new Error(`${file}: truncated .npy header`);
  const encoding = major === 3 ? 'utf8' : 'latin1';
  const header = parseHeader(buf.toString(encoding, start, start + len), file);
  if (header.fortranOrder) throw new Error(`${file}: Fortran-ordered arrays are not supported`);
  const entry = DESCRS[normaliseDescr(header.descr)];
  if (!entry) throw new Error(`${file}: unsupported dtype '${header.descr}' (need little-endian)`);
  const [dtype, size, Ctor] = entry;
  const count = header.shape.reduce((a, b) => a * b, 1);
  const offset = start + len;
  if (offset + count * size > buf.length) {
    throw new Error(`${file}: truncated .npy data (want ${count * size} bytes, have ${buf.length - offset})`);
  }
  // Copy into a fresh, aligned ArrayBuffer; the file's data offset need not be aligned.
  const bytes = new Uint8Array(count * size);
  buf.copy(bytes, 0, offset, offset + count * size);
  return { dtype, shape: header.shape, data: new Ctor(bytes.buffer) };
}

// read loads a .npy file from disk.
function read(file) {
  return decode(fs.readFileSync(file), file);
}

// encodeFloat32 serialises float32 data with the given shape as a .npy file (version 1.0,
// or 2.0 when the header does not fit in 65535 bytes).
function encodeFloat32(data, shape) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new Error(`npy: shape [${shape}] holds ${count} values, data has ${data.length}`);
  }
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  let major = 1;
  let prefix = 10;
  if (dict.length + 1 + prefix > 65535) {
    major = 2;
    prefix = 12;
  }
  const pad = (HEADER_ALIGNMENT - ((prefix + dict.length + 1) % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT;
  const text = dict + ' '.repeat(pad) + '\n';
  const head = Buffer.alloc(prefix);
  MAGIC.copy(head, 0);
  head[6] = major;
  head[7] = 0;
  if (major === 1) head.writeUInt16LE(text.length, 8);
  else head.writeUInt32LE(text.length, 8);
  const body = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) body.writeFloatLE(data[i], i * 4);
  return Buffer.concat([head, Buffer.from(text, 'latin1'), body]);
}

// writeFloat32 stores data (any numeric or bigint array) as a float32 .npy file.
function writeFloat32(file, data, shape) {
  const values = data instanceof Float32Array ? data : Float32Array.from(data, Number);
  fs.writeFileSync(file, encodeFloat32(values, shape));
}

module.exports = { read, decode, encodeFloat32, writeFloat32 };

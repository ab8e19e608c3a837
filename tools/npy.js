'use strict';
// Minimal reader/writer for NumPy .npy files (format versions 1.0-3.0, C order,
// little-endian or single-byte types). Returns {dtype, shape, data} where dtype
// is the ONNX Runtime tensor type name and data a typed array.

const fs = require('fs');

// npy descr (without byte-order char) <-> ORT type and typed array constructor.
const TYPES = [
  { descr: 'f4', ort: 'float32', Array: Float32Array },
  { descr: 'f8', ort: 'float64', Array: Float64Array },
  { descr: 'f2', ort: 'float16', Array: Uint16Array },
  { descr: 'i8', ort: 'int64', Array: BigInt64Array },
  { descr: 'u8', ort: 'uint64', Array: BigUint64Array },
  { descr: 'i4', ort: 'int32', Array: Int32Array },
  { descr: 'u4', ort: 'uint32', Array: Uint32Array },
  { descr: 'i2', ort: 'int16', Array: Int16Array },
  { descr: 'u2', ort: 'uint16', Array: Uint16Array },
  { descr: 'i1', ort: 'int8', Array: Int8Array },
  { descr: 'u1', ort: 'uint8', Array: Uint8Array },
  { descr: 'b1', ort: 'bool', Array: Uint8Array },
];

function parseHeader(text, file) {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new Error(`${file}: malformed .npy header`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${file}: bad shape ${shape[1]}`);
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY')
    throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  let hlen, hstart;
  if (major === 1) { hlen = buf.readUInt16LE(8); hstart = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); hstart = 12; }
  else throw new Error(`${file}: unsupported .npy version ${major}`);
  if (hstart + hlen > buf.length) throw new Error(`${file}: truncated header`);
  const h = parseHeader(buf.toString('latin1', hstart, hstart + hlen), file);
  if (h.fortran) throw new Error(`${file}: Fortran-order arrays are not supported`);
  const order = h.descr[0];
  const code = h.descr.slice(1);
  const t = TYPES.find((x) => x.descr === code);
  if (!t) throw new Error(`${file}: unsupported dtype ${h.descr}`);
  if (order === '>' && t.Array.BYTES_PER_ELEMENT > 1) throw new Error(`${file}: big-endian data not supported`);
  const n = h.shape.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const nbytes = n * t.Array.BYTES_PER_ELEMENT;
  if (buf.length - off < nbytes) throw new Error(`${file}: expected ${nbytes} data bytes, found ${buf.length - off}`);
  // Copy into a fresh, aligned buffer.
  const data = new t.Array(n);
  new Uint8Array(data.buffer).set(buf.subarray(off, off + nbytes));
  return { dtype: t.ort, shape: h.shape, data };
}

function encodeNpy(dtype, shape, data) {
  const t = TYPES.find((x) => x.ort === dtype);
  if (!t) throw new Error(`cannot write tensors of type ${dtype} to .npy`);
  const order = t.Array.BYTES_PER_ELEMENT === 1 ? '|' : '<';
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${order}${t.descr}', 'fortran_order': False, 'shape': ${shp}, }`;
  // Pad so that magic + version + len + header + '\n' is a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header + ' '.repeat(total - 10 - header.length - 1) + '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93; pre.write('NUMPY', 1, 'latin1'); pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  let bytes;
  if (data instanceof t.Array) bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  else bytes = Buffer.from(new t.Array(data).buffer);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), bytes]);
}

function writeNpy(file, dtype, shape, data) {
  fs.writeFileSync(file, encodeNpy(dtype, shape, data));
}

// File-system-safe output name: characters other than [A-Za-z0-9._-] become '_'.
function sanitizeName(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

module.exports = { readNpy, writeNpy, encodeNpy, sanitizeName, TYPES };

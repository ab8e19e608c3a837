#!/usr/bin/env node
'use strict';
// Run an ONNX model in ONNX Runtime (CPU) -- the independent reference that
// onnx-lrsc's interpreter and compressed models are checked against.
//
// usage: node tools/ort_run.js MODEL [options] [INPUT.npy | name=INPUT.npy ...]
//   positional .npy files feed the model inputs in declaration order;
//   name=FILE feeds the named input.
//   --outdir DIR       write each output as DIR/<sanitised output name>.npy
//   --threads N        intra-op threads (default 2); inter-op is always 1
//   --random BATCH     make seeded random inputs of the declared shapes, with
//                      the first dynamic dimension set to BATCH
//   --dim NAME=V       value for a named symbolic dimension (repeatable);
//                      other dynamic dimensions default to 1
//   --seed S           seed for --random (default 1)
//   --range LO,HI      value range of random floats (default 0,1)
//   --save-inputs DIR  also write the fed inputs as DIR/<sanitised name>.npy
//   --bench N          run N more times after one warm-up, print median latency
//   --opt LEVEL        graph optimisation: disabled|basic|extended|all (default all)
//   --info             print the model's inputs and outputs and exit
//   --quiet            no per-output summary
// Exit status: 0 on success, 2 on usage errors, 1 on any other failure.

const fs = require('fs');
const path = require('path');
const { readNpy, writeNpy, sanitizeName } = require('./npy');

function usage(msg) {
  if (msg) process.stderr.write(`ort_run: ${msg}\n`);
  process.stderr.write('usage: node tools/ort_run.js MODEL [--outdir DIR] [--threads N] [--random BATCH] ' +
    '[--dim NAME=V] [--seed S] [--range LO,HI] [--save-inputs DIR] [--bench N] [--opt LEVEL] [--info] ' +
    '[INPUT.npy | name=INPUT.npy ...]\n');
  process.exit(2);
}

function parseArgs(argv0) {
  // accept --opt=value as well as --opt value
  const argv = argv0.flatMap((a) => (/^--[a-z-]+=/.test(a) ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a]));
  const o = { threads: 2, seed: 1, range: [0, 1], dims: {}, inputs: [], named: {}, opt: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    const int = (s, min) => { const n = Number(s); if (!Number.isInteger(n) || n < min) usage(`${a}: bad value ${s}`); return n; };
    if (a === '--outdir' || a === '-o') o.outdir = val();
    else if (a === '--threads') o.threads = int(val(), 1);
    else if (a === '--random') o.random = int(val(), 1);
    else if (a === '--seed') o.seed = int(val(), 0);
    else if (a === '--bench') o.bench = int(val(), 1);
    else if (a === '--save-inputs') o.saveInputs = val();
    else if (a === '--opt') o.opt = val();
    else if (a === '--info') o.info = true;
    else if (a === '--quiet' || a === '-q') o.quiet = true;
    else if (a === '--range') {
      const r = val().split(',').map(Number);
      if (r.length !== 2 || r.some((x) => !Number.isFinite(x)) || r[0] > r[1]) usage(`--range: bad value`);
      o.range = r;
    } else if (a === '--dim') {
      const m = /^(.+)=(\d+)$/.exec(val());
      if (!m) usage('--dim wants NAME=VALUE');
      o.dims[m[1]] = Number(m[2]);
    } else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (!o.model) o.model = a;
    else {
      const m = /^([^=]+)=(.+)$/.exec(a);
      if (m && !fs.existsSync(a)) o.named[m[1]] = m[2];
      else o.inputs.push(a);
    }
  }
  if (!o.model) usage('no model given');
  return o;
}

// Small seeded generator (mulberry32): identical inputs on every platform.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, uint64: BigUint64Array,
  int32: Int32Array, uint32: Uint32Array, int16: Int16Array, uint16: Uint16Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

function randomTensor(ort, meta, o, next) {
  let batchUsed = false;
  const shape = meta.shape.map((d) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (typeof d === 'string' && d in o.dims) return o.dims[d];
    if (!batchUsed) { batchUsed = true; return o.random; }
    return 1;
  });
  const n = shape.reduce((a, b) => a * b, 1);
  const A = ARRAYS[meta.type];
  if (!A) throw new Error(`input ${meta.name}: cannot make random ${meta.type} data`);
  const data = new A(n);
  const [lo, hi] = o.range;
  for (let i = 0; i < n; i++) {
    const u = next();
    if (meta.type === 'float32' || meta.type === 'float64') data[i] = lo + (hi - lo) * u;
    else if (meta.type === 'bool') data[i] = u < 0.5 ? 0 : 1;
    else if (A === BigInt64Array || A === BigUint64Array) data[i] = BigInt(Math.floor(u * 10));
    else data[i] = Math.floor(u * 10);
  }
  return new ort.Tensor(meta.type, data, shape);
}

function summary(t) {
  let lo = Infinity, hi = -Infinity, sum = 0, nan = 0;
  for (const v0 of t.data) {
    const v = Number(v0);
    if (Number.isNaN(v)) { nan++; continue; }
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    sum += v;
  }
  const n = t.data.length - nan;
  return `${t.type} [${t.dims.join(',')}] min ${lo.toPrecision(6)} max ${hi.toPrecision(6)} ` +
    `mean ${(n ? sum / n : NaN).toPrecision(6)}${nan ? ` nan ${nan}` : ''}`;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
    ort.env.logLevel = 'error';  // not the per-initialiser warnings of old exporters
  } catch (e) {
    throw new Error('onnxruntime-node is not installed: run tools/setup.sh (npm ci in tools/)');
  }
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: o.opt,
  });
  const metas = session.inputMetadata;
  if (o.info) {
    for (const m of metas) console.log(`input  ${m.name} ${m.type} [${m.shape.join(',')}]`);
    for (const m of session.outputMetadata) console.log(`output ${m.name} ${m.type} [${(m.shape || []).join(',')}]`);
    return;
  }

  const feeds = {};
  const next = rng(o.seed);
  let pos = 0;
  for (const m of metas) {
    let file = o.named[m.name];
    if (file === undefined && pos < o.inputs.length) file = o.inputs[pos++];
    if (file !== undefined) {
      const a = readNpy(file);
      if (a.dtype !== m.type) throw new Error(`${file}: input ${m.name} wants ${m.type}, file holds ${a.dtype}`);
      feeds[m.name] = new ort.Tensor(a.dtype, a.data, a.shape);
    } else if (o.random) {
      feeds[m.name] = randomTensor(ort, m, o, next);
    } else {
      throw new Error(`no data for input ${m.name} (give a .npy file or --random BATCH)`);
    }
  }
  for (const k of Object.keys(o.named))
    if (!metas.some((m) => m.name === k)) throw new Error(`model has no input named ${k}`);
  if (pos < o.inputs.length) throw new Error(`${o.inputs.length} input files for ${metas.length} inputs`);

  if (o.saveInputs) {
    fs.mkdirSync(o.saveInputs, { recursive: true });
    for (const [k, t] of Object.entries(feeds))
      writeNpy(path.join(o.saveInputs, sanitizeName(k) + '.npy'), t.type, t.dims, t.data);
  }

  const results = await session.run(feeds);
  if (o.outdir) fs.mkdirSync(o.outdir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    if (o.outdir) writeNpy(path.join(o.outdir, sanitizeName(name) + '.npy'), t.type, t.dims, t.data);
    if (!o.quiet) console.log(`${name}: ${summary(t)}`);
  }

  if (o.bench) {
    const times = [];
    for (let i = 0; i < o.bench; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    console.log(`bench ${path.basename(o.model)} runs ${o.bench} threads ${o.threads} ` +
      `median_ms ${median.toFixed(3)} min_ms ${times[0].toFixed(3)} max_ms ${times[times.length - 1].toFixed(3)}`);
  }
}

main().catch((e) => {
  process.stderr.write(`ort_run: ${e.message}\n`);
  process.exit(1);
});

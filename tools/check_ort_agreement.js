#!/usr/bin/env node
'use strict';
// Check that onnx-lrsc's interpreter computes the same outputs as ONNX Runtime.
//
// usage: node tools/check_ort_agreement.js [options] [MODEL.onnx ...]
//   --lrsc BIN       onnx-lrsc executable (default build/src/onnx-lrsc)
//   --tol T          required agreement, relative (default 1e-4)
//   --work DIR       scratch folder (default: a fresh temp folder, removed after)
//   --threads N      ONNX Runtime intra-op threads (default 2)
//   --random BATCH   models without MODEL.inputs/ get seeded random inputs with
//                    the first dynamic dimension = BATCH (default 1)
//   --dim NAME=V     value of a named symbolic input dimension (repeatable)
//   --range LO,HI    range of random inputs (default 0,1)
//   --seed S         seed of random inputs (default 1)
//   --inputs DIR     take inputs from DIR/<input name>.npy instead of MODEL.inputs/
// Without models, checks every fixtures/models/*.onnx with its fixed input
// MODEL.inputs/<input name>.npy.
// Agreement per output: max|lrsc - ort| / max|ort|; a model passes when every
// output has the same shape and its figure is <= T. One line per model.
// Exit status: 0 all agree, 1 some disagree or fail, 2 usage, 77 when
// onnxruntime-node is not installed (ctest SKIP_RETURN_CODE).

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { readNpy, writeNpy, sanitizeName } = require('./npy');

const ROOT = path.resolve(__dirname, '..');

function usage(msg) {
  if (msg) process.stderr.write(`check_ort_agreement: ${msg}\n`);
  process.stderr.write('usage: node tools/check_ort_agreement.js [--lrsc BIN] [--tol T] [--work DIR] ' +
    '[--threads N] [--random BATCH] [--dim NAME=V] [--range LO,HI] [--seed S] [--inputs DIR] [MODEL.onnx ...]\n');
  process.exit(2);
}

function parseArgs(argv0) {
  // accept --opt=value as well as --opt value
  const argv = argv0.flatMap((a) => (/^--[a-z-]+=/.test(a) ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a]));
  const o = { lrsc: path.join(ROOT, 'build/src/onnx-lrsc'), tol: 1e-4, threads: 2, batch: 1, dims: {},
    range: [0, 1], seed: 1, models: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    const num = (s) => { const n = Number(s); if (!Number.isFinite(n) || n < 0) usage(`${a}: bad value ${s}`); return n; };
    if (a === '--lrsc') o.lrsc = path.resolve(val());
    else if (a === '--tol') o.tol = num(val());
    else if (a === '--work') o.work = path.resolve(val());
    else if (a === '--threads') o.threads = Math.max(1, Math.floor(num(val())));
    else if (a === '--random') o.batch = Math.max(1, Math.floor(num(val())));
    else if (a === '--inputs') o.inputs = path.resolve(val());
    else if (a === '--seed') o.seed = Math.floor(num(val()));
    else if (a === '--range') {
      o.range = val().split(',').map(Number);
      if (o.range.length !== 2 || o.range.some((x) => !Number.isFinite(x))) usage('--range wants LO,HI');
    } else if (a === '--dim') {
      const m = /^(.+)=(\d+)$/.exec(val());
      if (!m) usage('--dim wants NAME=VALUE');
      o.dims[m[1]] = Number(m[2]);
    } else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else o.models.push(path.resolve(a));
  }
  if (!o.models.length) {
    const dir = path.join(ROOT, 'fixtures/models');
    o.models = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort().map((f) => path.join(dir, f));
  }
  return o;
}

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

// Input files for one model, in the model's input order: the fixed ones from
// MODEL.inputs/ or seeded random float32 tensors written to the work folder.
function prepareInputs(session, model, o, dir) {
  const fixed = o.inputs || model.replace(/\.onnx$/, '.inputs');
  const files = [];
  const next = rng(o.seed);
  for (const m of session.inputMetadata) {
    const f = path.join(fixed, sanitizeName(m.name) + '.npy');
    if (fs.existsSync(f)) { files.push(f); continue; }
    if (fs.existsSync(fixed)) throw new Error(`missing ${f}`);
    if (m.type !== 'float32') throw new Error(`input ${m.name}: random ${m.type} inputs not supported`);
    let first = true;
    const shape = m.shape.map((d) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (typeof d === 'string' && d in o.dims) return o.dims[d];
      if (first) { first = false; return o.batch; }
      throw new Error(`input ${m.name}: give --dim ${d}=VALUE`);
    });
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = o.range[0] + (o.range[1] - o.range[0]) * next();
    const out = path.join(dir, 'in_' + sanitizeName(m.name) + '.npy');
    writeNpy(out, 'float32', shape, data);
    files.push(out);
  }
  return files;
}

function compare(ref, got) {
  if (ref.shape.join(',') !== got.shape.join(','))
    return { ok: false, why: `shape [${got.shape}] vs reference [${ref.shape}]` };
  let maxRef = 0, maxDiff = 0, bad = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const r = Number(ref.data[i]), g = Number(got.data[i]);
    if (Number.isNaN(r) || Number.isNaN(g)) { if (!(Number.isNaN(r) && Number.isNaN(g))) bad++; continue; }
    const d = Math.abs(r - g);
    if (d > maxDiff || Number.isNaN(d)) maxDiff = d;
    if (Math.abs(r) > maxRef) maxRef = Math.abs(r);
  }
  if (bad) return { ok: false, why: `${bad} NaN mismatches` };
  const rel = maxRef > 0 ? maxDiff / maxRef : maxDiff;
  return { ok: true, rel, maxDiff, maxRef };
}

async function checkModel(ort, model, o, dir) {
  const name = path.basename(model, '.onnx');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1,
  });
  const files = prepareInputs(session, model, o, dir);
  const feeds = {};
  session.inputMetadata.forEach((m, i) => {
    const a = readNpy(files[i]);
    feeds[m.name] = new ort.Tensor(a.dtype, a.data, a.shape);
  });
  const ref = await session.run(feeds);

  const outdir = path.join(dir, 'lrsc');
  fs.mkdirSync(outdir, { recursive: true });
  const args = ['run', model];
  for (const f of files) args.push('--input', f);
  args.push('--output', outdir);
  const t0 = Date.now();
  const r = spawnSync(o.lrsc, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const secs = (Date.now() - t0) / 1000;
  if (r.error) return `FAIL ${name}: cannot run ${o.lrsc}: ${r.error.message}`;
  if (r.status !== 0) {
    const msg = (r.stderr || r.stdout || '').trim().split('\n').pop();
    return `FAIL ${name}: onnx-lrsc run exited ${r.status === null ? r.signal : r.status}: ${msg}`;
  }
  let worst = 0, worstName = '', fail = null;
  for (const out of session.outputNames) {
    const f = path.join(outdir, sanitizeName(out) + '.npy');
    if (!fs.existsSync(f)) { fail = `no output file ${path.basename(f)}`; break; }
    const t = ref[out];
    const c = compare({ shape: t.dims, data: t.data }, readNpy(f));
    if (!c.ok) { fail = `${out}: ${c.why}`; break; }
    if (c.rel >= worst) { worst = c.rel; worstName = out; }
  }
  if (fail) return `FAIL ${name}: ${fail}`;
  const ok = worst <= o.tol;
  return `${ok ? 'ok  ' : 'FAIL'} ${name}: rel ${worst.toExponential(2)} (${worstName}; tol ${o.tol}) ` +
    `lrsc ${secs.toFixed(2)}s`;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
    ort.env.logLevel = 'error';  // not the per-initialiser warnings of old exporters
  } catch (e) {
    console.log('SKIP: onnxruntime-node is not installed (run tools/setup.sh); ORT agreement not checked');
    process.exit(77);
  }
  const work = o.work || fs.mkdtempSync(path.join(os.tmpdir(), 'lrsc-agree-'));
  let failed = 0;
  for (const model of o.models) {
    const dir = path.join(work, path.basename(model, '.onnx'));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    let line;
    try {
      line = await checkModel(ort, model, o, dir);
    } catch (e) {
      line = `FAIL ${path.basename(model, '.onnx')}: ${e.message.split('\n')[0]}`;
    }
    if (line.startsWith('FAIL')) failed++;
    console.log(line);
  }
  if (!o.work) fs.rmSync(work, { recursive: true, force: true });
  console.log(`${o.models.length - failed}/${o.models.length} models agree with ONNX Runtime`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(`check_ort_agreement: ${e.message}`); process.exit(1); });

#!/usr/bin/env node
'use strict';
// Per-node time of ONNX Runtime (CPU), to set beside bench_interp's
// --profile-nodes: where ORT's time goes and so where the interpreter lags.
// usage: node tools/bench_interp/ort_profile.js MODEL BATCH RUNS THREADS [TOP]
// prints per op type and the TOP slowest nodes: mean us per run over RUNS
// runs after one warm-up (ORT's fused node names, e.g. Conv with its Relu).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { loadOrt, createSession, makeFeeds } = require('./ort_session');

async function main() {
  const [model, batch, runs, threads, top] = process.argv.slice(2);
  const n = Number(runs || 10);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ortprof-'));
  const ort = loadOrt();
  const s = await createSession(ort, model, threads,
                                { enableProfiling: true, profileFilePrefix: path.join(dir, 'p') });
  const feeds = makeFeeds(ort, s, batch);
  for (let r = 0; r <= n; r++) await s.run(feeds);
  await s.endProfiling();
  await s.release();
  // the profile is written as <prefix>_<date>.json
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (files.length !== 1) throw new Error(`no profile written under ${dir}`);
  const ev = JSON.parse(fs.readFileSync(path.join(dir, files[0])));
  const byNode = new Map(), byOp = new Map();
  let seen = new Map();
  for (const e of ev) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.replace(/_kernel_time$/, '');
    const op = e.args && e.args.op_name ? e.args.op_name : '?';
    // the first run is the warm-up
    const k = (seen.get(name) || 0) + 1;
    seen.set(name, k);
    if (k === 1) continue;
    byNode.set(name, (byNode.get(name) || { op, us: 0 }));
    byNode.get(name).us += e.dur / n;
    byOp.set(op, (byOp.get(op) || 0) + e.dur / n);
  }
  let total = 0;
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${op.padEnd(24)} ${(us / 1000).toFixed(2)} ms/run`);
    total += us;
  }
  console.log(`  total                    ${(total / 1000).toFixed(2)} ms/run`);
  const rows = [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, Number(top || 20));
  for (const [name, v] of rows)
    console.log(`  ${v.op.padEnd(16)} ${name.slice(0, 48).padEnd(48)} ${(v.us / 1000).toFixed(3)} ms`);
  fs.rmSync(dir, { recursive: true, force: true });
}
main().catch((e) => { console.error(`ort_profile: ${e.message}`); process.exit(1); });

#!/usr/bin/env node
'use strict';
// ONNX Runtime (CPU) timing with process CPU time, the figure bench_interp
// reports as cpu_ms: on a machine shared with other work, CPU time moves far
// less than wall time.  Random input of the declared shape, first symbolic
// dim = batch, others 1.
// usage: node tools/bench_interp/ort_cpu.js MODEL BATCH RUNS THREADS
// prints: median_ms M cpu_ms C min_ms N  (medians and the least wall time over RUNS
// runs after one warm-up)
const { loadOrt, createSession, makeFeeds } = require('./ort_session');

async function main() {
  const [model, batch, runs, threads] = process.argv.slice(2);
  const n = Number(runs || 5);
  const ort = loadOrt();
  const s = await createSession(ort, model, threads);
  const feeds = makeFeeds(ort, s, batch);
  const wall = [], cpu = [];
  for (let r = -1; r < n; r++) {
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    await s.run(feeds);
    const t1 = process.hrtime.bigint(), c1 = process.cpuUsage(c0);
    if (r >= 0) {
      wall.push(Number(t1 - t0) / 1e6);
      cpu.push((c1.user + c1.system) / 1e3);
    }
  }
  const med = (a) => { a.sort((x, y) => x - y); const k = a.length >> 1; return a.length % 2 ? a[k] : (a[k - 1] + a[k]) / 2; };
  console.log(`median_ms ${med(wall).toFixed(2)} cpu_ms ${med(cpu).toFixed(2)} min_ms ${Math.min(...wall).toFixed(2)}`);
}
main().catch((e) => { console.error(`ort_cpu: ${e.message}`); process.exit(1); });

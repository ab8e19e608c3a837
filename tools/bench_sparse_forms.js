// Times ONNX models in ONNX Runtime (CPU, 2 intra-op threads), interleaved:
// every round runs each model once per batch shape, so load from other
// processes spreads evenly over the forms being compared.  Prints one JSON
// object: {model: {shape: [median ms, min ms]}}.
// usage: node tools/bench_sparse_forms.js ROUNDS SPEC.json
//   SPEC.json: [{"path": "m.onnx", "shapes": [[1, 4096], [8, 4096]]}, ...]
const fs = require('fs');
const ort = require('onnxruntime-node');

function input(dims) {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;  // fixed LCG so every form sees the same input
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = s / 4294967296 - 0.5; }
  return data;
}

async function main() {
  const rounds = Number(process.argv[2]);
  const spec = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const opts = {intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential',
                graphOptimizationLevel: 'all'};
  const jobs = [];
  for (const m of spec) {
    const sess = await ort.InferenceSession.create(m.path, opts);
    for (const dims of m.shapes) {
      const feeds = {[sess.inputNames[0]]: new ort.Tensor('float32', input(dims), dims)};
      for (let i = 0; i < 2; i++) await sess.run(feeds);  // warm-up
      jobs.push({path: m.path, key: dims.join('x'), sess, feeds, t: []});
    }
  }
  for (let r = 0; r < rounds; r++) {
    for (const j of jobs) {
      const t0 = process.hrtime.bigint();
      await j.sess.run(j.feeds);
      j.t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const out = {};
  for (const j of jobs) {
    j.t.sort((a, b) => a - b);
    out[j.path] = out[j.path] || {};
    out[j.path][j.key] = [j.t[Math.floor(j.t.length / 2)], j.t[0]];
  }
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });

// Times one ONNX model in ONNX Runtime (CPU, 2 intra-op threads): prints the
// median latency in ms over RUNS runs after 3 warm-up runs.
// usage: node tools/bench_sparse_forms.js model.onnx d0,d1,... [runs]
const ort = require('onnxruntime-node');

async function main() {
  const [path, shapeArg, runsArg] = process.argv.slice(2);
  const dims = shapeArg.split(',').map(Number);
  const runs = Number(runsArg || 15);
  const sess = await ort.InferenceSession.create(path, {
    intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all'});
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;  // fixed LCG so every form sees the same input
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = s / 4294967296 - 0.5; }
  const feeds = {[sess.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  for (let i = 0; i < 3; i++) await sess.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.sort((a, b) => a - b);
  console.log(t[Math.floor(t.length / 2)].toFixed(3));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });

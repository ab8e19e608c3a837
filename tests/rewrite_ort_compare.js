// Runs every original/rewritten model pair listed in DIR/manifest.txt
// ("<case> <input> d0 d1 ..." per line) in ONNX Runtime on the same random
// input and compares the outputs.  Exit 0 when all agree, 1 otherwise.
// usage: node rewrite_ort_compare.js DIR
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function run(file, feeds) {
  const s = await ort.InferenceSession.create(file, {intraOpNumThreads: 1});
  const out = await s.run(feeds);
  return out[s.outputNames[0]];
}

async function main() {
  const dir = process.argv[2];
  const lines = fs.readFileSync(path.join(dir, 'manifest.txt'), 'utf8').trim().split('\n');
  let bad = 0, skipped = 0;
  let seed = 7;
  for (const line of lines) {
    const [name, input, ...ds] = line.split(' ');
    const dims = ds.map(Number);
    const n = dims.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; x[i] = seed / 4294967296 * 2 - 1; }
    const feeds = {[input]: new ort.Tensor('float32', x, dims)};
    let a, b;
    try {
      a = await run(path.join(dir, name + '_orig.onnx'), feeds);
    } catch (e) {
      // Not the rewrite's doing (e.g. a fixture ONNX Runtime refuses): nothing to compare.
      console.log(`skip ${name}: the original does not run: ${String(e).split('\n')[0]}`);
      skipped++; continue;
    }
    try {
      b = await run(path.join(dir, name + '_rw.onnx'), feeds);
    } catch (e) {
      console.log(`FAIL ${name}: ${e}`); bad++; continue;
    }
    let err = 0, scale = 0;
    const same = a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims[i]);
    for (let i = 0; same && i < a.data.length; i++) {
      err = Math.max(err, Math.abs(a.data[i] - b.data[i]));
      scale = Math.max(scale, Math.abs(a.data[i]));
    }
    const ok = same && err <= 1e-4 * Math.max(1, scale);
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: dims ${a.dims} vs ${b.dims}, max |diff| ${err.toExponential(2)}, max |y| ${scale.toFixed(3)}`);
    if (!ok) bad++;
  }
  console.log(`${lines.length - bad - skipped}/${lines.length} pairs agree, ${skipped} skipped`);
  process.exit(bad ? 1 : 0);
}
main().catch((e) => { console.error(String(e)); process.exit(1); });

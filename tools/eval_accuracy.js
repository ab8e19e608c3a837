#!/usr/bin/env node
'use strict';
// Top-1 accuracy of a classifier in ONNX Runtime on uint8 images stored as .npy.
//
// usage: node tools/eval_accuracy.js MODEL IMAGES.npy LABELS.npy [--norm unit|pm1] [--batch B] [--threads N]
//        node tools/eval_accuracy.js            (the trained fixtures on every data set found)
//   IMAGES: uint8 N x C x H x W; LABELS: integer N.
//   --norm unit: x/255 (Fashion-MNIST fixture); pm1: (x/255 - 0.5)/0.5 (CIFAR-10 fixture).
// Prints one line per evaluation: model, data, top-1 accuracy, count.

const fs = require('fs');
const path = require('path');
const { readNpy } = require('./npy');

const ROOT = path.resolve(__dirname, '..');

async function evaluate(ort, model, imagesFile, labelsFile, norm, batch, threads) {
  const imgs = readNpy(imagesFile);
  const labels = readNpy(labelsFile);
  if (imgs.dtype !== 'uint8' || imgs.shape.length !== 4) throw new Error(`${imagesFile}: want uint8 NCHW`);
  const [n, c, h, w] = imgs.shape;
  if (labels.shape[0] !== n) throw new Error(`${labelsFile}: ${labels.shape[0]} labels for ${n} images`);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const per = c * h * w;
  let correct = 0;
  for (let s = 0; s < n; s += batch) {
    const b = Math.min(batch, n - s);
    const x = new Float32Array(b * per);
    for (let i = 0; i < b * per; i++) {
      const v = imgs.data[s * per + i] / 255;
      x[i] = norm === 'pm1' ? (v - 0.5) / 0.5 : v;
    }
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [b, c, h, w]) });
    const y = out[session.outputNames[0]];
    const k = y.dims[1];
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (y.data[i * k + j] > y.data[i * k + best]) best = j;
      if (best === Number(labels.data[s + i])) correct++;
    }
  }
  console.log(`${path.basename(model)} on ${path.basename(imagesFile)}: top-1 ${(correct / n).toFixed(4)} ` +
    `(${correct}/${n})`);
  return correct / n;
}

async function main() {
  const args = process.argv.slice(2);
  const opt = { norm: 'unit', batch: 100, threads: 2 };
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--norm') opt.norm = args[++i];
    else if (args[i] === '--batch') opt.batch = Math.max(1, Number(args[++i]) | 0);
    else if (args[i] === '--threads') opt.threads = Math.max(1, Number(args[++i]) | 0);
    else if (args[i].startsWith('-')) throw new Error(`unknown option ${args[i]}`);
    else pos.push(args[i]);
  }
  if (opt.norm !== 'unit' && opt.norm !== 'pm1') throw new Error('--norm wants unit or pm1');
  let ort;
  try { ort = require('onnxruntime-node'); } catch (e) {
    console.log('SKIP: onnxruntime-node is not installed (run tools/setup.sh)');
    process.exit(77);
  }
  if (pos.length === 3) {
    await evaluate(ort, pos[0], pos[1], pos[2], opt.norm, opt.batch, opt.threads);
    return;
  }
  if (pos.length) throw new Error('usage: node tools/eval_accuracy.js [MODEL IMAGES.npy LABELS.npy] [--norm unit|pm1]');
  const jobs = [
    ['fashion_mnist_alexnetish.onnx', 'fashion_mnist', 'unit'],
    ['cifar10_vggish.onnx', 'cifar10', 'pm1'],
  ];
  for (const [m, data, norm] of jobs) {
    const model = path.join(ROOT, 'fixtures/models', m);
    if (!fs.existsSync(model)) { console.log(`notice: ${model} missing`); continue; }
    for (const [imgs, labels] of [
      [`fixtures/data/${data}_test_500.npy`, `fixtures/data/${data}_test_500_labels.npy`],
      [`build/data/${data}_test.npy`, `build/data/${data}_test_labels.npy`]]) {
      const fi = path.join(ROOT, imgs);
      if (!fs.existsSync(fi)) {
        console.log(`notice: ${imgs} missing (/usr/bin/python3 tools/dump_testsets.py writes build/data)`);
        continue;
      }
      await evaluate(ort, model, fi, path.join(ROOT, labels), norm, opt.batch, opt.threads);
    }
  }
}

main().catch((e) => { console.error(`eval_accuracy: ${e.message}`); process.exit(1); });

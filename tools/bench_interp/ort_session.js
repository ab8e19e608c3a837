'use strict';
// What the ONNX Runtime drivers of bench_interp share: loading
// onnxruntime-node (tools/node_modules first), a CPU session with a given
// intra-op thread count, and fixed pseudo-random inputs of each input's
// declared shape (the first symbolic dim = batch, others 1).
const path = require('path');

function loadOrt() {
  try {
    return require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    return require('onnxruntime-node');
  }
}

function createSession(ort, model, threads, extra) {
  return ort.InferenceSession.create(model, Object.assign({
    intraOpNumThreads: Number(threads || 2), interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  }, extra || {}));
}

// Inputs in [-1, 1) from a linear congruential generator, so that every
// run of a driver feeds the same numbers.
function makeFeeds(ort, session, batch) {
  const feeds = {};
  let seed = 12345;
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    let first = true;
    const dims = (meta && meta.shape ? meta.shape : [Number(batch), 3, 224, 224]).map((d) => {
      if (typeof d === 'number' && d >= 0) return d;
      const v = first ? Number(batch) : 1;
      first = false;
      return v;
    });
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      data[i] = seed / 1073741824 - 1;
    }
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  return feeds;
}

module.exports = { loadOrt, createSession, makeFeeds };

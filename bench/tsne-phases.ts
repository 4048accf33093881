/**
 * Timing of the Barnes-Hut t-SNE phases (not a test).
 *
 *   npx tsx bench/tsne-phases.ts [--n 10000] [--data fmnist|random] [--iterations 1000] [--theta 0.5] [--knn exact|approx] [--threads (default: defaultThreads(n))]
 *
 * fmnist: Fashion-MNIST (train then test) from /usr/share/datasets/fashion-mnist, PCA to 50 dimensions.
 * random: seeded Gaussian blobs in 50 dimensions.
 * Prints seconds per phase, process CPU seconds, per-iteration phase timings, peak RSS, the KL divergence (BH
 * estimate of Z over the sparse P) and the 10-NN preservation on 2,000 sampled points (fraction of each sampled
 * point's 10 nearest neighbours in the 50-D input, searched over all points, that are among its 10 nearest in 2-D).
 *
 *   --cache DIR   keep the input and P in DIR (first run writes them; later runs skip PCA/kNN/affinities)
 *   --ee N        early-exaggeration iterations (default 250)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { gaussian, sampleIndices, seededRandom } from '../src/core/random.js';
import { jointProbabilities } from '../src/core/tsne/affinities.js';
import { BarnesHutOptimizer, DEFAULT_OPTIMIZE } from '../src/core/tsne/bhtsne.js';
import type { CsrMatrix } from '../src/core/tsne/affinities.js';
import { pcaInit } from '../src/core/tsne/index.js';
import { approxKnn, exactKnn, type KnnResult } from '../src/core/tsne/knn.js';
import { defaultThreads } from '../src/core/tsne/parallel.js';
import { pca, pcaTransform } from '../src/core/tsne/pca.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const DIR = '/usr/share/datasets/fashion-mnist';

function readImages(file: string): { data: Uint8Array; n: number; size: number } {
  const raw = gunzipSync(readFileSync(`${DIR}/${file}`));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = view.getUint32(4, false);
  const size = view.getUint32(8, false) * view.getUint32(12, false);
  return { data: raw.subarray(16, 16 + n * size), n, size };
}

function fashionMnist50(n: number): Float32Array {
  const parts = [readImages('train-images-idx3-ubyte.gz'), readImages('t10k-images-idx3-ubyte.gz')];
  const size = parts[0].size;
  const x = new Float32Array(n * size);
  let row = 0;
  for (const p of parts) {
    for (let i = 0; i < p.n && row < n; i++, row++) {
      for (let t = 0; t < size; t++) x[row * size + t] = p.data[i * size + t] / 255;
    }
  }
  const t0 = performance.now();
  const res = pca(x, n, size, 50, sampleIndices(n, Math.min(n, 10000), seededRandom(1)));
  const y = pcaTransform(x, n, size, res);
  console.log(`PCA ${size}→50 on ${n} rows: ${((performance.now() - t0) / 1000).toFixed(1)} s (not counted)`);
  return Float32Array.from(y);
}

function blobs50(n: number): Float32Array {
  const r = seededRandom(1);
  const d = 50;
  const centres = Array.from({ length: 10 * d }, () => gaussian(r) * 3);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) x[i * d + t] = centres[(i % 10) * d + t] + gaussian(r);
  return x;
}


function preservation(x: Float32Array, y: Float64Array, n: number, d: number, sample: number, k = 10): number {
  const idx = sampleIndices(n, Math.min(sample, n), seededRandom(99));
  const top = (dist: (j: number) => number, i: number): Set<number> => {
    const bd = new Float64Array(k).fill(Infinity);
    const bi = new Int32Array(k).fill(-1);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const v = dist(j);
      if (v >= bd[k - 1]) continue;
      let t = k - 1;
      while (t > 0 && bd[t - 1] > v) {
        bd[t] = bd[t - 1];
        bi[t] = bi[t - 1];
        t--;
      }
      bd[t] = v;
      bi[t] = j;
    }
    return new Set(bi);
  };
  let hit = 0;
  for (const i of idx) {
    const hi = top((j) => {
      let s2 = 0;
      for (let t = 0; t < d; t++) {
        const u = x[i * d + t] - x[j * d + t];
        s2 += u * u;
      }
      return s2;
    }, i);
    const lo = top((j) => (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2, i);
    for (const j of lo) if (hi.has(j)) hit++;
  }
  return hit / (idx.length * k);
}

const n = Number(arg('n', '10000'));
const iterations = Number(arg('iterations', String(DEFAULT_OPTIMIZE.iterations)));
const ee = Number(arg('ee', String(DEFAULT_OPTIMIZE.earlyExaggerationIterations)));
const theta = Number(arg('theta', '0.5'));
const source = arg('data', 'fmnist');
const cache = arg('cache', '');
const d = 50;
const knnMode = arg('knn', n > 5000 ? 'approx' : 'exact');
const key = cache ? `${cache}/tsne-${source}-${n}-${knnMode}` : '';
const s = (t: number): string => ((performance.now() - t) / 1000).toFixed(2);
let data: Float32Array;
let P: CsrMatrix;
let t = performance.now();
if (key && existsSync(`${key}.p`)) {
  const raw = readFileSync(`${key}.x`);
  data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const b = readFileSync(`${key}.p`);
  const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  const nnz = (b.byteLength - 4 * (n + 1)) / 12;
  P = {
    n,
    rowPtr: new Int32Array(buf, 0, n + 1),
    cols: new Int32Array(buf, 4 * (n + 1), nnz),
    values: new Float64Array(buf.slice(4 * (n + 1) + 4 * nnz)),
  };
  console.log(`input and P from ${key}.* (nnz ${nnz})`);
} else {
  data = source === 'fmnist' ? fashionMnist50(n) : blobs50(n);
  t = performance.now();
  const knn: KnnResult = knnMode === 'exact' ? await exactKnn(data, n, d, 90) : await approxKnn(data, n, d, 90, seededRandom(3));
  console.log(`kNN (${knnMode}, k=90): ${s(t)} s`);
  t = performance.now();
  P = jointProbabilities(knn, 30);
  console.log(`affinities: ${s(t)} s (nnz ${P.values.length})`);
  if (key) {
    writeFileSync(`${key}.x`, new Uint8Array(data.buffer));
    writeFileSync(`${key}.p`, Buffer.concat([Buffer.from(P.rowPtr.buffer), Buffer.from(P.cols.buffer), Buffer.from(P.values.buffer)]));
  }
}
const rss0 = process.memoryUsage().rss;
t = performance.now();
const y = pcaInit(data, n, d, seededRandom(2));
console.log(`PCA init: ${s(t)} s`);
const threads = Number(arg('threads', String(defaultThreads(n))));
const opts: Record<string, number> = { iterations, theta, threads, earlyExaggerationIterations: Math.min(ee, iterations) };
const opt = new BarnesHutOptimizer(P, y, opts);
t = performance.now();
const cpu0 = process.cpuUsage();
let last = { ...opt.phaseMs };
let tLast = performance.now();
const ms = (a: number, b: number): string => ((a - b) / 50).toFixed(1);
while (!opt.done) {
  await opt.step();
  if (opt.iteration % 50 === 0) {
    const p = opt.phaseMs;
    console.log(
      `  iter ${opt.iteration}: ${s(t)} s, KL ${opt.kl?.toFixed(4)}; ms/it tree ${ms(p.tree, last.tree)} rep ${ms(p.repulsion, last.repulsion)} attr ${ms(p.attraction, last.attraction)} upd ${ms(p.update, last.update)} total ${ms(performance.now(), tLast)}`,
    );
    last = { ...p };
    tLast = performance.now();
  }
}
const tGd = (performance.now() - t) / 1000;
const cpu = process.cpuUsage(cpu0);
const kl = await opt.computeKl();
await opt.close();
const p = opt.phaseMs;
console.log(
  `gradient descent (${iterations} it, EE ${opts.earlyExaggerationIterations}, θ=${theta}, ${threads} thread(s)): ${tGd.toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU (process), ${((tGd / iterations) * 1000).toFixed(1)} ms/it, KL ${kl.toFixed(4)}`,
);
console.log(
  `  phases (s): tree ${(p.tree / 1000).toFixed(2)}, repulsion ${(p.repulsion / 1000).toFixed(2)}, attraction ${(p.attraction / 1000).toFixed(2)}, update ${(p.update / 1000).toFixed(2)}, reorder ${(p.reorder / 1000).toFixed(2)}`,
);
const ru = process.resourceUsage();
console.log(`peak RSS ${(ru.maxRSS / 1024).toFixed(0)} MB (after data load ${(rss0 / 2 ** 20).toFixed(0)} MB)`);
if (arg('quality', '1') !== '0') {
  t = performance.now();
  console.log(`10-NN preservation (2,000 sampled points): ${preservation(data, y, n, d, 2000).toFixed(4)} (${s(t)} s)`);
}

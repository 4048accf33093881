/**
 * Timing of the Barnes-Hut t-SNE phases (not a test).
 *
 *   npx tsx bench/tsne.ts [--n 10000] [--data fmnist|random] [--iterations 1000] [--theta 0.5] [--knn exact|approx] [--threads 1]
 *
 * fmnist: Fashion-MNIST (train then test) from /usr/share/datasets/fashion-mnist, PCA to 50 dimensions.
 * random: seeded Gaussian blobs in 50 dimensions.
 * Prints seconds per phase, peak RSS and the KL divergence (BH estimate of Z over the sparse P).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { gaussian, sampleIndices, seededRandom } from '../src/core/random.js';
import { jointProbabilities } from '../src/core/tsne/affinities.js';
import { BarnesHutOptimizer } from '../src/core/tsne/bhtsne.js';
import { pcaInit } from '../src/core/tsne/index.js';
import { approxKnn, exactKnn, type KnnResult } from '../src/core/tsne/knn.js';
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

const n = Number(arg('n', '10000'));
const iterations = Number(arg('iterations', '1000'));
const theta = Number(arg('theta', '0.5'));
const source = arg('data', 'fmnist');
const d = 50;
const data = source === 'fmnist' ? fashionMnist50(n) : blobs50(n);
const rss0 = process.memoryUsage().rss;

const s = (t: number): string => ((performance.now() - t) / 1000).toFixed(2);
let t = performance.now();
const knnMode = arg('knn', n > 5000 ? 'approx' : 'exact');
const knn: KnnResult = knnMode === 'exact' ? await exactKnn(data, n, d, 90) : await approxKnn(data, n, d, 90, seededRandom(3));
console.log(`kNN (${knnMode}, k=90): ${s(t)} s`);
t = performance.now();
const P = jointProbabilities(knn, 30);
console.log(`affinities: ${s(t)} s (nnz ${P.values.length})`);
t = performance.now();
const y = pcaInit(data, n, d, seededRandom(2));
console.log(`PCA init: ${s(t)} s`);
t = performance.now();
const threads = Number(arg('threads', '1'));
const opt = new BarnesHutOptimizer(P, y, { iterations, theta, threads });
let tTree = 0;
while (!opt.done) {
  await opt.step();
  if (opt.iteration % 50 === 0) {
    console.log(`  iter ${opt.iteration}: ${s(t)} s, KL ${opt.kl?.toFixed(4)}`);
  }
}
tTree = (performance.now() - t) / 1000;
const kl = await opt.computeKl();
await opt.close();
console.log(`gradient descent (${iterations} it, θ=${theta}, ${threads} thread(s)): ${tTree.toFixed(2)} s, ${((tTree / iterations) * 1000).toFixed(1)} ms/it, KL ${kl.toFixed(4)}`);
const ru = process.resourceUsage();
console.log(`peak RSS ${(ru.maxRSS / 1024).toFixed(0)} MB (after data load ${(rss0 / 2 ** 20).toFixed(0)} MB)`);

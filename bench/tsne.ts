/**
 * npm run bench:tsne [-- --n 10000,70000] [--no-reference]
 *
 * t-SNE on Fashion-MNIST (apt-get install -y dataset-fashion-mnist): input = first 50 principal components of
 * the pixels. For each N: wall seconds, peak RSS (each run in its own process) and 10-nearest-neighbour
 * preservation (fraction of each point's 10 nearest input neighbours among its 10 nearest in 2-D, averaged over a
 * 2,000-point sample). If python3 with scikit-learn is installed (Debian: python3-sklearn), sklearn's
 * TSNE(init='pca', learning_rate='auto', n_jobs=2) runs on the same input in the same run. Last line per N: one
 * JSON object.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readFashionMnist } from '../src/core/idx.js';
import { readNpy, writeNpy } from '../src/core/npy.js';
import { sampleIndices, seededRandom } from '../src/core/random.js';
import { pca, pcaTransform } from '../src/core/tsne/pca.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '10000,70000' }, 'no-reference': { type: 'boolean' } } });
const sizes = values.n!.split(',').map(Number);
const tmp = await mkdtemp(join(tmpdir(), 'clusterlens-bench-tsne-'));
const all = await readFashionMnist('all');

function pca50(n: number): Float32Array {
  const d = 784;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) x[i] = all.images[i] / 255;
  const res = pca(x, n, d, 50, sampleIndices(n, Math.min(n, 10000), seededRandom(1)));
  return Float32Array.from(pcaTransform(x, n, d, res));
}

/** Indices of the k nearest rows to row q (excluding q), by squared Euclidean distance, brute force. */
function nearest(data: Float32Array, n: number, d: number, q: number, k: number): Int32Array {
  const bestD = new Float64Array(k).fill(Infinity);
  const bestI = new Int32Array(k).fill(-1);
  const qo = q * d;
  for (let j = 0; j < n; j++) {
    if (j === q) continue;
    let s = 0;
    const jo = j * d;
    for (let t = 0; t < d; t++) {
      const v = data[qo + t] - data[jo + t];
      s += v * v;
    }
    if (s < bestD[k - 1]) {
      let p = k - 1;
      while (p > 0 && bestD[p - 1] > s) {
        bestD[p] = bestD[p - 1];
        bestI[p] = bestI[p - 1];
        p--;
      }
      bestD[p] = s;
      bestI[p] = j;
    }
  }
  return bestI;
}

function knnPreservation(input: Float32Array, d: number, emb: Float32Array, n: number, inputNeighbours: Int32Array[], sample: Uint32Array): number {
  let total = 0;
  sample.forEach((q, s) => {
    const a = new Set(inputNeighbours[s]);
    const b = nearest(emb, n, 2, q, 10);
    let hit = 0;
    for (const j of b) if (a.has(j)) hit++;
    total += hit / 10;
  });
  return total / sample.length;
}

// Debian's python3-sklearn lives under /usr/bin/python3, which a pyenv or venv python3 on PATH may hide.
const python = values['no-reference'] ? undefined : [process.env.PYTHON, 'python3', '/usr/bin/python3'].find((p) => p && spawnSync(p, ['-c', 'import sklearn, numpy'], { stdio: 'ignore' }).status === 0);
const hasSklearn = !!python;
if (!values['no-reference'] && !hasSklearn) console.log('reference: python3 with scikit-learn not found (apt-get install -y python3-sklearn); skipping it');

for (const n of sizes) {
  const input = pca50(n);
  const inFile = join(tmp, `in-${n}.npy`);
  await writeNpy(inFile, input, [n, 50]);
  const sample = sampleIndices(n, Math.min(2000, n), seededRandom(7));
  const inputNeighbours = Array.from(sample, (q) => nearest(input, n, 50, q, 10));

  const ours = JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'tsne-run.ts'), inFile, join(tmp, `ours-${n}.npy`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 }).trim().split('\n').pop()!,
  ) as { seconds: number; peakRssMB: number; method: string; kl?: number };
  const oursEmb = (await readNpy(join(tmp, `ours-${n}.npy`))).data as Float32Array;
  const oursKnn = knnPreservation(input, 50, oursEmb, n, inputNeighbours, sample);
  console.log(`N=${n}  ours (${ours.method}): ${ours.seconds.toFixed(1)} s, peak RSS ${ours.peakRssMB} MB, knn10 ${oursKnn.toFixed(3)}${ours.kl !== undefined ? `, KL ${ours.kl.toFixed(3)}` : ''}`);

  let reference: { name: string; seconds: number; peakRssMB: number; knn10: number } | undefined;
  if (hasSklearn) {
    const out = execFileSync(python!, [join(import.meta.dirname, 'py', 'sklearn_tsne.py'), inFile, join(tmp, `sk-${n}.npy`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const sk = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; peakRssMB: number; version: string };
    const skEmb = (await readNpy(join(tmp, `sk-${n}.npy`))).data;
    const emb = skEmb instanceof Float32Array ? skEmb : Float32Array.from(skEmb as Float64Array);
    const skKnn = knnPreservation(input, 50, emb, n, inputNeighbours, sample);
    reference = { name: `sklearn ${sk.version}`, seconds: Math.round(sk.seconds * 10) / 10, peakRssMB: sk.peakRssMB, knn10: Math.round(skKnn * 1000) / 1000 };
    console.log(`N=${n}  sklearn: ${sk.seconds.toFixed(1)} s, peak RSS ${sk.peakRssMB} MB, knn10 ${skKnn.toFixed(3)}; ours is ${(sk.seconds / ours.seconds).toFixed(2)}× as fast, knn10 ${oursKnn - skKnn >= 0 ? '+' : ''}${(oursKnn - skKnn).toFixed(3)}`);
  }
  console.log(JSON.stringify({ bench: 'tsne', n, method: ours.method, seconds: Math.round(ours.seconds * 10) / 10, peakRssMB: ours.peakRssMB, knn10: Math.round(oursKnn * 1000) / 1000, reference, target: { seconds: 90, peakRssMB: 2048, knn10: reference ? Math.round((reference.knn10 - 0.02) * 1000) / 1000 : null } }));
}
await rm(tmp, { recursive: true, force: true });

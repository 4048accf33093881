import { kmeansGenerator } from 'ml-kmeans';
import { sampleIndices, seededRandom } from './random.js';
import { UserError, throwIfAborted, yieldToEventLoop, type StepOptions } from './types.js';

export interface KMeansResult {
  k: number;
  /** Cluster of every row, 0..k-1; cluster 0 is the largest (ties: the cluster holding the lowest row index first). */
  assignments: Int32Array;
  /** Row-major k×d centroids, in the same (size-descending) order as the cluster ids. */
  centroids: Float32Array;
  /** Rows per cluster; non-increasing. */
  sizes: number[];
  /** Lloyd iterations ml-kmeans ran. */
  iterations: number;
  /** Sum of squared Euclidean distances from every row to its centroid. */
  inertia: number;
}

export interface KMeansOptions extends StepOptions {
  seed: number;
  /** Default 100 (ml-kmeans' default). */
  maxIterations?: number;
  /** Convergence: every centroid moved less than this squared distance. Default 1e-6 (ml-kmeans' default). */
  tolerance?: number;
}

/** Row views as number[][], the format ml-kmeans takes (one plain array per row, filled in one pass). */
function toRows(data: Float32Array, n: number, d: number): number[][] {
  const rows = new Array<number[]>(n);
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(d);
    const o = i * d;
    for (let j = 0; j < d; j++) row[j] = data[o + j];
    rows[i] = row;
  }
  return rows;
}

function checkShape(data: Float32Array, n: number, d: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 1) throw new UserError(`bad shape ${n}×${d}`);
  if (data.length < n * d) throw new UserError(`data has ${data.length} values, expected ${n}×${d} = ${n * d}`);
}

/**
 * k-means with ml-kmeans (k-means++ initialisation seeded with `opts.seed`, Lloyd iterations), driven through its
 * generator so that progress ('kmeans', one tick per iteration) is reported and the signal is checked between iterations.
 * Clusters are renumbered by size, largest first, and each row is finally assigned to its nearest final centroid, so
 * `assignToCentroids(data, n, d, result.centroids, k)` reproduces `result.assignments`.
 */
export async function runKMeans(data: Float32Array, n: number, d: number, k: number, opts: KMeansOptions): Promise<KMeansResult> {
  checkShape(data, n, d);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new UserError(`k must be an integer between 1 and the number of rows (${n}); got ${k}`);
  const maxIterations = opts.maxIterations ?? 100;
  throwIfAborted(opts.signal);
  const rows = toRows(data, n, d);
  const gen = kmeansGenerator(rows, k, {
    initialization: 'kmeans++',
    seed: opts.seed,
    maxIterations,
    ...(opts.tolerance !== undefined ? { tolerance: opts.tolerance } : {}),
  });
  let centers: number[][] | undefined;
  let iterations = 0;
  // for..of closes the generator if the body throws (abort).
  for (const step of gen) {
    iterations = step.iterations;
    centers = step.centroids;
    opts.onProgress?.({ step: 'kmeans', done: iterations, total: maxIterations, message: step.converged ? `converged after ${iterations} iterations` : `iteration ${iterations}` });
    await yieldToEventLoop();
    throwIfAborted(opts.signal);
  }
  if (!centers) throw new Error('ml-kmeans ran no iteration');

  const raw = new Float32Array(k * d);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) raw[c * d + j] = centers[c][j];
  const rawAssign = assignToCentroids(data, n, d, raw, k);

  // Renumber: size descending, ties by the first row that belongs to the cluster (empty clusters last).
  const size = new Array<number>(k).fill(0);
  const first = new Array<number>(k).fill(Infinity);
  for (let i = 0; i < n; i++) {
    const c = rawAssign[i];
    if (size[c]++ === 0) first[c] = i;
  }
  const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => size[b] - size[a] || first[a] - first[b] || a - b);
  const newId = new Int32Array(k);
  order.forEach((old, id) => (newId[old] = id));
  const assignments = new Int32Array(n);
  for (let i = 0; i < n; i++) assignments[i] = newId[rawAssign[i]];
  const centroids = new Float32Array(k * d);
  order.forEach((old, id) => centroids.set(raw.subarray(old * d, old * d + d), id * d));

  let inertia = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const co = assignments[i] * d;
    for (let j = 0; j < d; j++) {
      const t = data[o + j] - centroids[co + j];
      inertia += t * t;
    }
  }
  return { k, assignments, centroids, sizes: order.map((c) => size[c]), iterations, inertia };
}

/** Nearest centroid (squared Euclidean; ties to the lower id) for each of n rows; `centroids` is row-major k×d. */
export function assignToCentroids(data: Float32Array, n: number, d: number, centroids: Float32Array, k: number): Int32Array {
  checkShape(data, n, d);
  if (k < 1 || centroids.length < k * d) throw new UserError(`centroids have ${centroids.length} values, expected ${k}×${d}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let best = 0;
    let bestDist = Infinity;
    for (let c = 0; c < k; c++) {
      const co = c * d;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = data[o + j] - centroids[co + j];
        s += t * t;
      }
      if (s < bestDist) {
        bestDist = s;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

export interface SuggestKOptions extends StepOptions {
  seed: number;
  /** Smallest k tried; default 2. */
  min?: number;
  /** Largest k tried; default 20 (capped at sample size - 1). */
  max?: number;
  /** Rows on which k-means and the silhouette are computed; default 2,000. */
  sampleSize?: number;
}

export interface SuggestKResult {
  k: number;
  scores: { k: number; silhouette: number }[];
  reason: string;
}

const ROW_BLOCK = 64;

/**
 * Mean silhouette (Euclidean) of several labelings of the same m points, in one blocked O(m²·(d + labelings)) pass:
 * each pairwise distance is computed once and added to the per-cluster distance sums of every labeling.
 * A point alone in its cluster scores 0 (as in scikit-learn).
 */
export function meanSilhouettes(points: Float32Array, m: number, d: number, labelings: { labels: Int32Array; k: number }[]): number[] {
  const L = labelings.length;
  const offsets: number[] = [];
  let total = 0;
  for (const l of labelings) {
    offsets.push(total);
    total += l.k;
  }
  const counts = labelings.map(({ labels, k }) => {
    const c = new Float64Array(k);
    for (let i = 0; i < m; i++) c[labels[i]]++;
    return c;
  });
  const sums = new Float64Array(ROW_BLOCK * total);
  const dist = new Float64Array(m);
  const scoreSum = new Float64Array(L);
  for (let i0 = 0; i0 < m; i0 += ROW_BLOCK) {
    const i1 = Math.min(m, i0 + ROW_BLOCK);
    sums.fill(0);
    for (let i = i0; i < i1; i++) {
      const o = i * d;
      for (let j = 0; j < m; j++) {
        const p = j * d;
        let s = 0;
        for (let t = 0; t < d; t++) {
          const x = points[o + t] - points[p + t];
          s += x * x;
        }
        dist[j] = Math.sqrt(s);
      }
      const rowBase = (i - i0) * total;
      for (let l = 0; l < L; l++) {
        const labels = labelings[l].labels;
        const base = rowBase + offsets[l];
        for (let j = 0; j < m; j++) sums[base + labels[j]] += dist[j];
      }
      for (let l = 0; l < L; l++) {
        const { labels, k } = labelings[l];
        const base = rowBase + offsets[l];
        const own = labels[i];
        const ownCount = counts[l][own];
        if (ownCount <= 1) continue;
        const a = sums[base + own] / (ownCount - 1);
        let b = Infinity;
        for (let c = 0; c < k; c++) {
          if (c === own || counts[l][c] === 0) continue;
          const mean = sums[base + c] / counts[l][c];
          if (mean < b) b = mean;
        }
        if (b === Infinity) continue;
        const den = Math.max(a, b);
        if (den > 0) scoreSum[l] += (b - a) / den;
      }
    }
  }
  return Array.from(scoreSum, (s) => s / m);
}

/**
 * Suggests k: runs k-means for every k in min..max on a seeded sample and picks the k with the highest mean silhouette
 * (ties: the smaller k). Progress is reported as step 'suggest-k'.
 */
export async function suggestK(data: Float32Array, n: number, d: number, opts: SuggestKOptions): Promise<SuggestKResult> {
  checkShape(data, n, d);
  const sampleSize = opts.sampleSize ?? 2000;
  const random = seededRandom(opts.seed);
  const idx = sampleIndices(n, Math.min(n, sampleSize), random);
  const m = idx.length;
  const min = Math.max(2, opts.min ?? 2);
  const max = Math.min(opts.max ?? 20, m - 1);
  if (m < 3 || max < min) throw new UserError(`cannot suggest k for ${n} rows between k=${min} and k=${opts.max ?? 20}; choose k yourself`);
  const points = new Float32Array(m * d);
  for (let r = 0; r < m; r++) points.set(data.subarray(idx[r] * d, idx[r] * d + d), r * d);

  const total = max - min + 2;
  const labelings: { labels: Int32Array; k: number }[] = [];
  for (let k = min; k <= max; k++) {
    throwIfAborted(opts.signal);
    opts.onProgress?.({ step: 'suggest-k', done: k - min, total, message: `k-means with k=${k} on ${m.toLocaleString('en-US')} rows` });
    const res = await runKMeans(points, m, d, k, { seed: opts.seed, signal: opts.signal });
    labelings.push({ labels: res.assignments, k });
  }
  opts.onProgress?.({ step: 'suggest-k', done: total - 1, total, message: 'silhouettes' });
  await yieldToEventLoop();
  throwIfAborted(opts.signal);
  const sil = meanSilhouettes(points, m, d, labelings);
  const scores = labelings.map((l, i) => ({ k: l.k, silhouette: sil[i] }));
  let best = scores[0];
  for (const s of scores) if (s.silhouette > best.silhouette) best = s;
  opts.onProgress?.({ step: 'suggest-k', done: total, total });
  const where = m < n ? `on a ${m.toLocaleString('en-US')}-image sample` : `on all ${m.toLocaleString('en-US')} images`;
  const reason = `k=${best.k}: highest mean silhouette (${best.silhouette.toFixed(2)}) over k=${min}..${max} ${where}`;
  return { k: best.k, scores, reason };
}

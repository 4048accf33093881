/**
 * Nearest neighbours in latent space: the embedding as a similarity function.
 *
 * Queries are exact: one pass over the row-major Float32Array codes (n×d) with the row norms
 * precomputed, keeping the k best in a bounded max-heap: at 100,000 × 32 that is a few milliseconds per query
 * (bench/similar.ts measures it), far below the 50 ms budget, so no approximate index is needed and recall is 1.
 *
 * Metrics:
 *   euclidean  ‖a − b‖ (not squared)
 *   cosine     1 − a·b / (‖a‖‖b‖), in [0, 2]; a zero vector has cosine distance 1 to everything
 *
 * All-points kNN (for outlier scores and near duplicates) is exact up to 10,000 rows (blocked brute force,
 * O(n²d)); above that a random-projection forest with neighbour-of-neighbour refinement (tsne/knn.ts approxKnn),
 * because the exact graph of 100,000 rows costs minutes in one thread (measured on 2 shared cores: exact 3 s at 10,000
 * rows, 12 s at 20,000, so ~5 min at 100,000; approximate ~5 s at 100,000 with recall@10 ≈ 0.94 and the mean of
 * the 10 distances within a few %, which is plenty for outlier scores).
 *
 * The scan ranks by a cheap key (‖x‖² − 2q·x for euclidean, −q·x/‖x‖ for cosine) and computes the returned
 * distances directly from the two vectors, so the reported values carry no cancellation error.
 */
import { approxKnn, exactKnn, heapPush, sortHeapRows } from './tsne/knn.js';
import { seededRandom } from './random.js';
import { UserError, type StepOptions } from './types.js';

export type Metric = 'cosine' | 'euclidean';
export const METRICS: readonly Metric[] = ['euclidean', 'cosine'];
export const DEFAULT_METRIC: Metric = 'euclidean';

export interface Neighbor {
  /** Row of the neighbour. */
  index: number;
  distance: number;
}

export interface QueryOptions {
  metric?: Metric;
  /** A row to leave out (the query's own row when the query is a project image); -1 or undefined for none. */
  exclude?: number;
}

export function parseMetric(v: string): Metric {
  if (v === 'cosine' || v === 'euclidean') return v;
  throw new UserError(`unknown metric "${v}" (use cosine or euclidean)`);
}

/** ‖x‖² per row, in float64. */
export function squaredNorms(data: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let t = 0; t < d; t++) s += data[o + t] * data[o + t];
    out[i] = s;
  }
  return out;
}

/** Distance between row `j` of `data` and vector `q` (length d, starting at `qo` in `qData`). */
export function distanceTo(metric: Metric, data: Float32Array, j: number, d: number, qData: Float32Array, qo = 0): number {
  const o = j * d;
  if (metric === 'euclidean') {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const diff = data[o + t] - qData[qo + t];
      s += diff * diff;
    }
    return Math.sqrt(s);
  }
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let t = 0; t < d; t++) {
    const a = data[o + t];
    const b = qData[qo + t];
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  if (na === 0 || nb === 0) return 1;
  // Clamp: rounding can push |cos| a hair above 1.
  return Math.min(2, Math.max(0, 1 - dot / Math.sqrt(na * nb)));
}

/** Exact k-nearest-neighbour search over a fixed set of vectors. Building only computes the row norms. */
export class NeighborIndex {
  readonly sqNorms: Float64Array;
  /** 1/‖x‖ per row (0 for a zero row, which then ranks as cosine distance 1). */
  readonly invNorms: Float64Array;
  private heapD: Float64Array = new Float64Array(0);
  private heapI: Int32Array = new Int32Array(0);

  constructor(
    readonly data: Float32Array,
    readonly n: number,
    readonly d: number,
  ) {
    if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 1) throw new Error(`bad shape ${n}×${d}`);
    if (data.length < n * d) throw new Error(`data has ${data.length} values, expected ${n}×${d}`);
    this.sqNorms = squaredNorms(data, n, d);
    this.invNorms = new Float64Array(n);
    for (let i = 0; i < n; i++) this.invNorms[i] = this.sqNorms[i] > 0 ? 1 / Math.sqrt(this.sqNorms[i]) : 0;
  }

  /** Row `i` as a view (no copy). */
  row(i: number): Float32Array {
    return this.data.subarray(i * this.d, (i + 1) * this.d);
  }

  /** The k nearest rows to vector `q`, nearest first (ties by row). */
  query(q: Float32Array, k: number, opts: QueryOptions = {}): Neighbor[] {
    const { n, d, data } = this;
    const metric = opts.metric ?? DEFAULT_METRIC;
    const exclude = opts.exclude ?? -1;
    if (q.length !== d) throw new UserError(`query vector has ${q.length} values but the embeddings have ${d}`);
    const kk = Math.max(0, Math.min(Math.floor(k), exclude >= 0 && exclude < n ? n - 1 : n));
    if (kk === 0) return [];
    if (this.heapD.length < kk) {
      this.heapD = new Float64Array(kk);
      this.heapI = new Int32Array(kk);
    }
    const heapD = this.heapD;
    const heapI = this.heapI;
    let size = 0;
    // Work on a float64 copy of q: the dot products accumulate in float64 anyway.
    const qv = Float64Array.from(q);
    if (metric === 'euclidean') {
      const sq = this.sqNorms;
      for (let j = 0, o = 0; j < n; j++, o += d) {
        if (j === exclude) continue;
        let dot = 0;
        for (let t = 0; t < d; t++) dot += qv[t] * data[o + t];
        const key = sq[j] - 2 * dot;
        if (size < kk || key < heapD[0]) size = heapPush(heapD, heapI, 0, kk, size, key, j);
      }
    } else {
      const inv = this.invNorms;
      for (let j = 0, o = 0; j < n; j++, o += d) {
        if (j === exclude) continue;
        let dot = 0;
        for (let t = 0; t < d; t++) dot += qv[t] * data[o + t];
        const key = -dot * inv[j];
        if (size < kk || key < heapD[0]) size = heapPush(heapD, heapI, 0, kk, size, key, j);
      }
    }
    const out: Neighbor[] = [];
    for (let t = 0; t < size; t++) out.push({ index: heapI[t], distance: distanceTo(metric, data, heapI[t], d, q) });
    out.sort((a, b) => a.distance - b.distance || a.index - b.index);
    return out;
  }

  /** The k nearest rows to row `i`, leaving row `i` itself out. */
  queryRow(i: number, k: number, metric: Metric = DEFAULT_METRIC): Neighbor[] {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) throw new UserError(`row ${i} is out of range (0..${this.n - 1})`);
    return this.query(this.row(i), k, { metric, exclude: i });
  }
}

/** Above this many rows allKnn uses the approximate search unless told otherwise. */
export const EXACT_ALL_KNN_MAX_N = 10_000;

export interface KnnGraph {
  n: number;
  k: number;
  /** n×k neighbour rows, each row nearest first; never the row itself. */
  indices: Int32Array;
  /** n×k distances (real distances in the chosen metric, not squared). */
  distances: Float64Array;
  metric: Metric;
  /** False when found by the approximate search. */
  exact: boolean;
}

export interface AllKnnOptions extends StepOptions {
  metric?: Metric;
  /** 'auto' (default): exact up to EXACT_ALL_KNN_MAX_N rows, approximate above. */
  approximate?: boolean | 'auto';
  /** Seed of the approximate search's random projections (default 1). */
  seed?: number;
}

/**
 * k nearest neighbours of every row. Exact: blocked brute force, each pair computed once, norms precomputed (see
 * tsne/knn.ts). Cosine runs on unit-normalised rows, where ‖a − b‖² = 2(1 − cos), so the order is the same.
 * k is clamped to n − 1.
 */
export async function allKnn(data: Float32Array, n: number, d: number, k: number, opts: AllKnnOptions = {}): Promise<KnnGraph> {
  const metric = opts.metric ?? DEFAULT_METRIC;
  const kk = Math.max(0, Math.min(k, n - 1));
  let work = data;
  if (metric === 'cosine') {
    work = new Float32Array(n * d);
    const sq = squaredNorms(data, n, d);
    for (let i = 0; i < n; i++) {
      const s = sq[i] > 0 ? 1 / Math.sqrt(sq[i]) : 0;
      for (let t = 0; t < d; t++) work[i * d + t] = data[i * d + t] * s;
    }
  }
  const onProgress = opts.onProgress;
  const knnOpts = {
    signal: opts.signal,
    onProgress: onProgress ? (done: number, total: number) => onProgress({ step: 'neighbors', done, total }) : undefined,
  };
  const approximate = opts.approximate === true || ((opts.approximate ?? 'auto') === 'auto' && n > EXACT_ALL_KNN_MAX_N);
  // 12 trees + 3 refinement passes: recall@10 0.94 on 20,000 seeded 32-d Gaussian blobs (harder than real codes) in 1.2 s.
  const res = approximate ? await approxKnn(work, n, d, kk, seededRandom(opts.seed ?? 1), { ...knnOpts, trees: 12, refinements: 3, exploreWidth: 10 }) : await exactKnn(work, n, d, kk, knnOpts);
  const distances = res.distances;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < kk; t++) distances[i * kk + t] = distanceTo(metric, data, res.indices[i * kk + t], d, data, i * d);
  }
  // Direct distances can reorder near-ties; keep each row sorted.
  sortHeapRows(distances, res.indices, n, kk);
  return { n, k: kk, indices: res.indices, distances, metric, exact: !approximate };
}

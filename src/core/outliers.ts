/**
 * Outliers and duplicates from the embedding.
 *
 * Outlier score per image, from two signals:
 *   - the reconstruction error (errors.npy): the autoencoder could not reproduce the image well;
 *   - the mean distance to the image's k nearest neighbours in latent space (k = 10): nothing looks like it.
 * Each signal is made robust by median/IQR scaling, z = (x − median) / IQR (so one extreme image cannot squash
 * the scale for the rest), and the score is their mean. An image is flagged when its score is above
 * Q3 + c·IQR of all scores (Tukey's fence, as cleanlab does; c = 1.5 by default).
 *
 * Duplicates:
 *   - exact: same content hash (project.json images[i].hash, the sha256 of the file's bytes);
 *   - near: latent distance to a neighbour ≤ ratio × the median nearest-neighbour distance of the project
 *     (ratio = 0.1 by default). The threshold is relative because the scale of latent codes depends on the
 *     model; a tenth of the typical gap between an image and its most similar other image is far closer than two
 *     different photos of the same kind of thing get, while a re-saved, recompressed or slightly resized copy
 *     lands there.
 *   Exact and near pairs are joined into groups (union-find); every member of a group but the first (in project
 *   order) is reported as a duplicate of the first.
 */
import { allKnn, distanceTo, DEFAULT_METRIC, type KnnGraph, type Metric } from './neighbors.js';
import type { StepOptions } from './types.js';

export const DEFAULT_OUTLIER_K = 10;
export const DEFAULT_FENCE = 1.5;
export const DEFAULT_NEAR_DUPLICATE_RATIO = 0.1;

/** The p-quantile of ascending `sorted` values, linear interpolation between order statistics (numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(1, Math.max(0, p)) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export interface RobustStats {
  median: number;
  q1: number;
  q3: number;
  iqr: number;
}

export function robustStats(values: ArrayLike<number>): RobustStats {
  const sorted = Float64Array.from(values).sort();
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  return { median: quantileSorted(sorted, 0.5), q1, q3, iqr: q3 - q1 };
}

/**
 * (x − median) / IQR. When the IQR is 0 (more than half the values equal), the mean absolute deviation from the
 * median is the scale instead, and 1 when that is 0 too.
 */
export function robustZ(values: ArrayLike<number>): Float64Array {
  const s = robustStats(values);
  let scale = s.iqr;
  if (!(scale > 0)) {
    let mad = 0;
    for (let i = 0; i < values.length; i++) mad += Math.abs(values[i] - s.median);
    scale = values.length > 0 ? mad / values.length : 0;
  }
  if (!(scale > 0)) scale = 1;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i] - s.median) / scale;
  return out;
}

export interface OutlierOptions extends StepOptions {
  /** Neighbours for the mean kNN distance (default 10). */
  k?: number;
  metric?: Metric;
  /** Fence multiplier: flagged when score > Q3 + c·IQR (default 1.5). */
  c?: number;
  /** A kNN graph already computed for these codes with at least k neighbours (saves the O(n²d) search). */
  knn?: KnnGraph;
}

export interface OutlierResult {
  /** Combined robust score per image; higher = more unusual. */
  scores: Float64Array;
  /** Mean distance to the k nearest neighbours, per image. */
  knnDistance: Float64Array;
  /** Robust z of knnDistance. */
  knnZ: Float64Array;
  /** Robust z of the reconstruction error, when errors were given. */
  errorZ?: Float64Array;
  /** Q3 + c·IQR of the scores. */
  threshold: number;
  /** 1 where scores > threshold. */
  flagged: Uint8Array;
  k: number;
  c: number;
  /** The kNN graph used (reusable for duplicates). */
  knn: KnnGraph;
}

/** Outlier scores of all n images (codes n×d, errors n or undefined). */
export async function outlierScores(
  codes: Float32Array,
  n: number,
  d: number,
  errors: Float32Array | undefined,
  opts: OutlierOptions = {},
): Promise<OutlierResult> {
  const k = Math.max(1, Math.min(opts.k ?? DEFAULT_OUTLIER_K, n - 1));
  const c = opts.c ?? DEFAULT_FENCE;
  if (!(c >= 0)) throw new Error(`c must be ≥ 0, got ${c}`);
  if (errors && errors.length !== n) throw new Error(`errors has ${errors.length} values, expected ${n}`);
  if (n < 2) {
    const zeros = new Float64Array(n);
    return { scores: zeros, knnDistance: zeros, knnZ: zeros, errorZ: errors ? zeros : undefined, threshold: Infinity, flagged: new Uint8Array(n), k: 0, c, knn: { n, k: 0, indices: new Int32Array(0), distances: new Float64Array(0), metric: opts.metric ?? DEFAULT_METRIC, exact: true } };
  }
  const metric = opts.metric ?? DEFAULT_METRIC;
  const reuse = opts.knn && opts.knn.n === n && opts.knn.k >= k && opts.knn.metric === metric;
  const knn = reuse ? opts.knn! : await allKnn(codes, n, d, k, { metric, signal: opts.signal, onProgress: opts.onProgress });
  const knnDistance = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += knn.distances[i * knn.k + t];
    knnDistance[i] = s / k;
  }
  const knnZ = robustZ(knnDistance);
  const errorZ = errors ? robustZ(errors) : undefined;
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) scores[i] = errorZ ? (knnZ[i] + errorZ[i]) / 2 : knnZ[i];
  const st = robustStats(scores);
  const threshold = st.q3 + c * st.iqr;
  const flagged = new Uint8Array(n);
  for (let i = 0; i < n; i++) flagged[i] = scores[i] > threshold ? 1 : 0;
  return { scores, knnDistance, knnZ, errorZ, threshold, flagged, k, c, knn };
}

/** Rows sorted by descending score (ties by row). */
export function rankOutliers(scores: ArrayLike<number>): Int32Array {
  const order = new Int32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => scores[b] - scores[a] || a - b);
}

export interface Duplicate {
  /** The duplicate row. */
  index: number;
  /** The first row (in project order) of its group. */
  of: number;
  /** 'exact' when the content hashes are equal, else 'near'. */
  kind: 'exact' | 'near';
  /** Latent distance between the two rows (0 for exact duplicates without codes). */
  distance: number;
}

export interface DuplicateOptions {
  /** Near-duplicate threshold as a fraction of the median nearest-neighbour distance (default 0.1); 0 = exact only. */
  ratio?: number;
  metric?: Metric;
}

export interface DuplicateResult {
  duplicates: Duplicate[];
  /** Median over rows of the distance to the nearest other row with a different hash (NaN without a kNN graph). */
  medianNearest: number;
  /** Latent distance at or below which two rows count as near duplicates (0 when only exact ones are sought). */
  threshold: number;
}

function find(parent: Int32Array, i: number): number {
  while (parent[i] !== i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

function union(parent: Int32Array, a: number, b: number): void {
  const ra = find(parent, a);
  const rb = find(parent, b);
  // The smaller row becomes the root, so each group's root is its first row.
  if (ra < rb) parent[rb] = ra;
  else if (rb < ra) parent[ra] = rb;
}

/**
 * Exact duplicates from content hashes, plus near duplicates from the kNN graph when one is given
 * (`codes` is needed then, to report the distance of each duplicate to the first of its group).
 */
export function findDuplicateRows(
  hashes: readonly string[],
  knn?: KnnGraph,
  codes?: { data: Float32Array; d: number },
  opts: DuplicateOptions = {},
): DuplicateResult {
  const n = hashes.length;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const firstByHash = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const f = firstByHash.get(hashes[i]);
    if (f === undefined) firstByHash.set(hashes[i], i);
    else union(parent, f, i);
  }
  let medianNearest = NaN;
  let threshold = 0;
  const ratio = opts.ratio ?? DEFAULT_NEAR_DUPLICATE_RATIO;
  if (knn && knn.k > 0 && knn.n === n) {
    // Typical nearest-neighbour distance, ignoring exact copies (which sit at distance 0).
    const nearest: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < knn.k; t++) {
        const j = knn.indices[i * knn.k + t];
        if (hashes[j] !== hashes[i] && knn.distances[i * knn.k + t] > 0) {
          nearest.push(knn.distances[i * knn.k + t]);
          break;
        }
      }
    }
    nearest.sort((a, b) => a - b);
    medianNearest = quantileSorted(nearest, 0.5);
    threshold = ratio > 0 && Number.isFinite(medianNearest) ? ratio * medianNearest : 0;
    if (threshold > 0) {
      for (let i = 0; i < n; i++) {
        for (let t = 0; t < knn.k; t++) {
          if (knn.distances[i * knn.k + t] > threshold) break;
          union(parent, i, knn.indices[i * knn.k + t]);
        }
      }
    }
  }
  const metric = opts.metric ?? DEFAULT_METRIC;
  const duplicates: Duplicate[] = [];
  for (let i = 0; i < n; i++) {
    const root = find(parent, i);
    if (root === i) continue;
    const kind = hashes[root] === hashes[i] ? 'exact' : 'near';
    const distance = codes ? distanceTo(metric, codes.data, i, codes.d, codes.data, root * codes.d) : 0;
    duplicates.push({ index: i, of: root, kind, distance });
  }
  return { duplicates, medianNearest, threshold };
}

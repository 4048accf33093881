/**
 * t-SNE input affinities: per-point Gaussian bandwidths calibrated to a perplexity over the k nearest neighbours,
 * then the symmetric joint distribution P = (P_{j|i} + P_{i|j}) / 2N stored as a CSR matrix.
 */
import type { KnnResult } from './knn.js';

/** A square sparse matrix in compressed sparse row form. */
export interface CsrMatrix {
  n: number;
  /** n+1 offsets into `cols` / `values`. */
  rowPtr: Int32Array;
  cols: Int32Array;
  values: Float64Array;
}

const ENTROPY_TOLERANCE = 1e-5;
const MAX_SEARCH_STEPS = 200;

/**
 * Conditional probabilities P_{j|i} (row-major n×k, aligned with knn.indices): each row is a Gaussian over the
 * squared distances whose bandwidth is found by bisection so that the row's entropy is log(perplexity).
 * Returns the probabilities and the precision β_i = 1/(2σ_i²) of each row.
 */
export function conditionalAffinities(knn: KnnResult, perplexity: number): { p: Float64Array; beta: Float64Array } {
  const { n, k, distances } = knn;
  if (!(perplexity > 0)) throw new Error(`perplexity must be positive, got ${perplexity}`);
  const p = new Float64Array(n * k);
  const betas = new Float64Array(n);
  // With k neighbours the entropy cannot exceed log(k); aim just below it when the perplexity asks for more.
  const target = Math.log(Math.min(perplexity, Math.max(k, 1)));
  for (let i = 0; i < n; i++) {
    const off = i * k;
    if (k === 0) continue;
    // Distances relative to the nearest neighbour: exp(-β(d - d0)) never underflows for the nearest one.
    const d0 = distances[off];
    let beta = 1;
    let lo = 0;
    let hi = Infinity;
    // Start from a scale-aware guess so that data far from unit scale needs few doublings.
    let spread = distances[off + k - 1] - d0;
    if (spread > 0) beta = Math.min(1 / spread, 1e100);
    for (let step = 0; step < MAX_SEARCH_STEPS; step++) {
      let sum = 0;
      let dsum = 0;
      for (let t = 0; t < k; t++) {
        const dd = distances[off + t] - d0;
        const w = Math.exp(-beta * dd);
        p[off + t] = w;
        sum += w;
        dsum += w * dd;
      }
      // H = log(sum) + β·E[d - d0]
      const entropy = Math.log(sum) + (beta * dsum) / sum;
      const diff = entropy - target;
      // Equal distances make the entropy independent of β: any β is right, stop before it overflows.
      if (Math.abs(diff) < ENTROPY_TOLERANCE || beta > 1e250) break;
      if (diff > 0) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = (beta + lo) / 2;
      }
    }
    spread = 0;
    for (let t = 0; t < k; t++) spread += p[off + t];
    for (let t = 0; t < k; t++) p[off + t] /= spread;
    betas[i] = beta;
  }
  return { p, beta: betas };
}

/** P = (P_{j|i} + P_{i|j}) / 2n as CSR, each row's columns in ascending order. Sums to 1. */
export function symmetrize(knn: KnnResult, pCond: Float64Array): CsrMatrix {
  const { n, k, indices } = knn;
  // Transpose lists: for each j, which rows i have j as a neighbour (and with which probability).
  const tPtr = new Int32Array(n + 1);
  for (let e = 0; e < n * k; e++) tPtr[indices[e] + 1]++;
  for (let j = 0; j < n; j++) tPtr[j + 1] += tPtr[j];
  const tRow = new Int32Array(n * k);
  const tVal = new Float64Array(n * k);
  const fill = tPtr.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const e = i * k + t;
      const pos = fill[indices[e]]++;
      tRow[pos] = i;
      tVal[pos] = pCond[e];
    }
  }
  // Merge row i's own neighbours with its transpose list; `mark[j]` = 1 + slot of j in the row being built.
  const mark = new Int32Array(n);
  // A row holds its k neighbours plus every point that has it as a neighbour (unbounded in-degree: hubs).
  let maxIn = 0;
  for (let j = 0; j < n; j++) maxIn = Math.max(maxIn, tPtr[j + 1] - tPtr[j]);
  const rowCols = new Int32Array(k + maxIn);
  const rowVals = new Float64Array(k + maxIn);
  const order = new Int32Array(k + maxIn);
  const rowPtr = new Int32Array(n + 1);
  // Upper bound nnz = 2nk; trim after.
  const cols = new Int32Array(2 * n * k);
  const values = new Float64Array(2 * n * k);
  const scale = 1 / (2 * n);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let t = 0; t < k; t++) {
      const e = i * k + t;
      const j = indices[e];
      mark[j] = m + 1;
      rowCols[m] = j;
      rowVals[m] = pCond[e];
      m++;
    }
    for (let s = tPtr[i]; s < tPtr[i + 1]; s++) {
      const j = tRow[s];
      const slot = mark[j];
      if (slot > 0) rowVals[slot - 1] += tVal[s];
      else {
        rowCols[m] = j;
        rowVals[m] = tVal[s];
        m++;
      }
    }
    for (let t = 0; t < m; t++) {
      mark[rowCols[t]] = 0;
      order[t] = t;
    }
    const ord = order.subarray(0, m);
    ord.sort((a, b) => rowCols[a] - rowCols[b]);
    for (let t = 0; t < m; t++) {
      cols[nnz] = rowCols[ord[t]];
      values[nnz] = rowVals[ord[t]] * scale;
      nnz++;
    }
    rowPtr[i + 1] = nnz;
  }
  return { n, rowPtr, cols: cols.slice(0, nnz), values: values.slice(0, nnz) };
}

/** Calibrate and symmetrise in one go. */
export function jointProbabilities(knn: KnnResult, perplexity: number): CsrMatrix {
  return symmetrize(knn, conditionalAffinities(knn, perplexity).p);
}

/**
 * Cluster quality against known classes (demo, benchmarks, tests). `pred` and `truth` hold one id per row; ids may be any
 * integers (they are compacted internally), and the two labelings may have different numbers of groups.
 */

interface Contingency {
  /** rows = predicted clusters, cols = true classes, row-major counts. */
  table: Float64Array;
  k: number;
  c: number;
  n: number;
}

function compact(ids: Int32Array): { index: Int32Array; count: number } {
  const map = new Map<number, number>();
  const index = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    let v = map.get(ids[i]);
    if (v === undefined) {
      v = map.size;
      map.set(ids[i], v);
    }
    index[i] = v;
  }
  return { index, count: map.size };
}

function contingency(pred: Int32Array, truth: Int32Array): Contingency {
  if (pred.length !== truth.length) throw new Error(`pred has ${pred.length} rows but truth has ${truth.length}`);
  const p = compact(pred);
  const t = compact(truth);
  const table = new Float64Array(p.count * t.count);
  for (let i = 0; i < pred.length; i++) table[p.index[i] * t.count + t.index[i]]++;
  return { table, k: p.count, c: t.count, n: pred.length };
}

/** Fraction of rows whose class is the majority class of their cluster (1 for an empty input). */
export function purity(pred: Int32Array, truth: Int32Array): number {
  const { table, k, c, n } = contingency(pred, truth);
  if (n === 0) return 1;
  let sum = 0;
  for (let r = 0; r < k; r++) {
    let best = 0;
    for (let j = 0; j < c; j++) best = Math.max(best, table[r * c + j]);
    sum += best;
  }
  return sum / n;
}

function entropy(counts: Float64Array, n: number): number {
  let h = 0;
  for (const x of counts) if (x > 0) h -= (x / n) * Math.log(x / n);
  return h;
}

/**
 * Normalised mutual information, MI / ((H(pred) + H(truth)) / 2) — scikit-learn's default ('arithmetic').
 * Two single-group labelings score 1 (as in scikit-learn); otherwise 0 when either labeling has a single group.
 */
export function nmi(pred: Int32Array, truth: Int32Array): number {
  const { table, k, c, n } = contingency(pred, truth);
  if ((k === 1 && c === 1) || n === 0) return 1;
  const rowSum = new Float64Array(k);
  const colSum = new Float64Array(c);
  for (let r = 0; r < k; r++)
    for (let j = 0; j < c; j++) {
      rowSum[r] += table[r * c + j];
      colSum[j] += table[r * c + j];
    }
  let mi = 0;
  for (let r = 0; r < k; r++)
    for (let j = 0; j < c; j++) {
      const x = table[r * c + j];
      if (x > 0) mi += (x / n) * Math.log((x * n) / (rowSum[r] * colSum[j]));
    }
  const norm = (entropy(rowSum, n) + entropy(colSum, n)) / 2;
  if (mi <= 0 || norm <= 0) return 0;
  return Math.min(1, mi / norm);
}

/**
 * Minimum-cost assignment of rows to columns for a rows×cols cost matrix (row-major), rows ≤ cols: the Hungarian
 * algorithm with row/column potentials, O(rows²·cols). Returns the column of every row.
 */
function hungarianMin(cost: Float64Array, rows: number, cols: number): Int32Array {
  // 1-based arrays; column 0 is a virtual column used to start each augmenting path.
  const u = new Float64Array(rows + 1);
  const v = new Float64Array(cols + 1);
  const rowOfCol = new Int32Array(cols + 1); // 0 = free
  const way = new Int32Array(cols + 1);
  const minv = new Float64Array(cols + 1);
  const used = new Uint8Array(cols + 1);
  for (let i = 1; i <= rows; i++) {
    rowOfCol[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = rowOfCol[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const cur = cost[(i0 - 1) * cols + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[rowOfCol[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (rowOfCol[j0] !== 0);
    // Flip the augmenting path back to the virtual column.
    do {
      const j1 = way[j0];
      rowOfCol[j0] = rowOfCol[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const colOfRow = new Int32Array(rows).fill(-1);
  for (let j = 1; j <= cols; j++) if (rowOfCol[j] !== 0) colOfRow[rowOfCol[j] - 1] = j - 1;
  return colOfRow;
}

/**
 * Maximum-weight one-to-one matching on a rows×cols weight matrix (any shape): returns the matched column of every row,
 * or -1 for rows left unmatched when rows > cols.
 */
export function maxWeightMatching(weights: Float64Array, rows: number, cols: number): Int32Array {
  let maxW = 0;
  for (const w of weights) maxW = Math.max(maxW, w);
  const transpose = rows > cols;
  const r = transpose ? cols : rows;
  const c = transpose ? rows : cols;
  const cost = new Float64Array(r * c);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < c; j++) cost[i * c + j] = maxW - (transpose ? weights[j * cols + i] : weights[i * cols + j]);
  const match = hungarianMin(cost, r, c);
  if (!transpose) return match;
  const out = new Int32Array(rows).fill(-1);
  for (let i = 0; i < r; i++) out[match[i]] = i;
  return out;
}

/**
 * Best accuracy reachable by mapping clusters to classes one-to-one (Hungarian matching on the contingency table).
 * When there are more clusters than classes, the unmatched clusters count as wrong.
 */
export function clusteringAccuracy(pred: Int32Array, truth: Int32Array): number {
  const { table, k, c, n } = contingency(pred, truth);
  if (n === 0) return 1;
  const match = maxWeightMatching(table, k, c);
  let correct = 0;
  for (let r = 0; r < k; r++) if (match[r] >= 0) correct += table[r * c + match[r]];
  return correct / n;
}

export interface MajorityLabelingPoint {
  /** Clusters labelled so far. */
  clusters: number;
  /** The cluster labelled at this step (its id in `pred`), or undefined for the starting point. */
  cluster?: number;
  /** Fraction of all rows that carry a label so far. */
  labeled: number;
  /** Fraction of all rows whose label is right so far. */
  correct: number;
}

/**
 * What a user gets by labelling whole clusters with their majority class, one cluster at a time, largest cluster first
 * (ties: lower id first): point j is the state after j clusters. The last point has `labeled` 1 and `correct` = purity.
 */
export function majorityLabelingCurve(pred: Int32Array, truth: Int32Array): MajorityLabelingPoint[] {
  if (pred.length !== truth.length) throw new Error(`pred has ${pred.length} rows but truth has ${truth.length}`);
  const n = pred.length;
  const members = new Map<number, Map<number, number>>();
  for (let i = 0; i < n; i++) {
    let m = members.get(pred[i]);
    if (!m) members.set(pred[i], (m = new Map()));
    m.set(truth[i], (m.get(truth[i]) ?? 0) + 1);
  }
  const clusters = [...members.entries()].map(([id, counts]) => {
    let size = 0;
    let best = 0;
    for (const x of counts.values()) {
      size += x;
      best = Math.max(best, x);
    }
    return { id, size, best };
  });
  clusters.sort((a, b) => b.size - a.size || a.id - b.id);
  const out: MajorityLabelingPoint[] = [{ clusters: 0, labeled: 0, correct: 0 }];
  let labeled = 0;
  let correct = 0;
  clusters.forEach((cl, j) => {
    labeled += cl.size;
    correct += cl.best;
    out.push({ clusters: j + 1, cluster: cl.id, labeled: labeled / n, correct: correct / n });
  });
  return out;
}

/**
 * How well an embedding's neighbourhoods follow the true classes: the fraction of rows whose k nearest
 * neighbours (`indices`, n×k rows, never the row itself) vote, by majority, for the row's own class (ties go to
 * the lower class id). It bounds how pure small clusters of that embedding can be.
 */
export function knnVoteAccuracy(indices: Int32Array, k: number, truth: Int32Array): number {
  const n = truth.length;
  if (indices.length !== n * k) throw new Error(`indices has ${indices.length} entries, expected ${n}×${k}`);
  let classes = 0;
  for (let i = 0; i < n; i++) classes = Math.max(classes, truth[i] + 1);
  const votes = new Int32Array(classes);
  let right = 0;
  for (let i = 0; i < n; i++) {
    votes.fill(0);
    for (let t = 0; t < k; t++) votes[truth[indices[i * k + t]]]++;
    let best = 0;
    for (let c = 1; c < classes; c++) if (votes[c] > votes[best]) best = c;
    if (best === truth[i]) right++;
  }
  return n === 0 ? 1 : right / n;
}

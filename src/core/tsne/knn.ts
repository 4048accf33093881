/**
 * k-nearest-neighbour search on row-major Float32Array data (n×d), squared Euclidean distance.
 *
 * `exactKnn` is a blocked brute force: ||a||² + ||b||² − 2a·b over tiles of rows, each pair computed once
 * (the tile pair (I, J) with J ≥ I feeds both rows' heaps), the k best of each row kept in a bounded max-heap.
 */
import { throwIfAborted, yieldToEventLoop } from '../types.js';

export interface KnnResult {
  n: number;
  k: number;
  /** n×k neighbour indices, each row sorted by ascending distance; never the row itself. */
  indices: Int32Array;
  /** n×k squared Euclidean distances matching `indices`. */
  distances: Float64Array;
}

export interface KnnOptions {
  signal?: AbortSignal;
  /** Called with (rows done, n) now and then. */
  onProgress?: (done: number, total: number) => void;
}

/** Push (dist, idx) into the max-heap stored at heapD/heapI[off .. off+k) holding `size` items; returns new size. */
export function heapPush(
  heapD: Float64Array,
  heapI: Int32Array,
  off: number,
  k: number,
  size: number,
  dist: number,
  idx: number,
): number {
  let pos: number;
  if (size < k) {
    // Sift up from the end.
    pos = size;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      if (heapD[off + parent] >= dist) break;
      heapD[off + pos] = heapD[off + parent];
      heapI[off + pos] = heapI[off + parent];
      pos = parent;
    }
    heapD[off + pos] = dist;
    heapI[off + pos] = idx;
    return size + 1;
  }
  if (dist >= heapD[off]) return size;
  // Replace the root and sift down.
  pos = 0;
  for (;;) {
    const l = 2 * pos + 1;
    if (l >= k) break;
    const r = l + 1;
    let c = l;
    if (r < k && heapD[off + r] > heapD[off + l]) c = r;
    if (heapD[off + c] <= dist) break;
    heapD[off + pos] = heapD[off + c];
    heapI[off + pos] = heapI[off + c];
    pos = c;
  }
  heapD[off + pos] = dist;
  heapI[off + pos] = idx;
  return size;
}

/** Turn each row's max-heap into an ascending list (ties broken by index, so the output is deterministic). */
export function sortHeapRows(heapD: Float64Array, heapI: Int32Array, n: number, k: number): void {
  const order = new Int32Array(k);
  const tmpD = new Float64Array(k);
  const tmpI = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const off = i * k;
    for (let t = 0; t < k; t++) order[t] = t;
    const dRow = heapD.subarray(off, off + k);
    const iRow = heapI.subarray(off, off + k);
    order.sort((a, b) => dRow[a] - dRow[b] || iRow[a] - iRow[b]);
    for (let t = 0; t < k; t++) {
      tmpD[t] = dRow[order[t]];
      tmpI[t] = iRow[order[t]];
    }
    dRow.set(tmpD);
    iRow.set(tmpI);
  }
}

function rowNorms(data: Float32Array, n: number, d: number): Float64Array {
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let t = 0; t < d; t++) s += data[o + t] * data[o + t];
    norms[i] = s;
  }
  return norms;
}

/** Exact k nearest neighbours (k ≤ n−1) by blocked brute force. O(n²d) time, O(nk) memory. */
export async function exactKnn(data: Float32Array, n: number, d: number, k: number, opts: KnnOptions = {}): Promise<KnnResult> {
  if (k > n - 1) throw new Error(`k = ${k} needs at least ${k + 1} points, got ${n}`);
  if (data.length < n * d) throw new Error(`data has ${data.length} values, expected ${n}×${d}`);
  const heapD = new Float64Array(n * k);
  const heapI = new Int32Array(n * k);
  const sizes = new Int32Array(n);
  if (k === 0) return { n, k, indices: heapI, distances: heapD };
  const norms = rowNorms(data, n, d);
  // Tile sizes: a tile of B rows × d floats stays in L1/L2 while the other tile streams past it.
  const B = 64;
  let lastYield = performance.now();
  for (let i0 = 0; i0 < n; i0 += B) {
    const i1 = Math.min(n, i0 + B);
    for (let j0 = i0; j0 < n; j0 += B) {
      const j1 = Math.min(n, j0 + B);
      for (let i = i0; i < i1; i++) {
        const oi = i * d;
        const ni = norms[i];
        const offI = i * k;
        const jStart = j0 === i0 ? i + 1 : j0;
        for (let j = jStart; j < j1; j++) {
          const oj = j * d;
          let dot = 0;
          for (let t = 0; t < d; t++) dot += data[oi + t] * data[oj + t];
          let dist = ni + norms[j] - 2 * dot;
          if (dist < 0) dist = 0;
          if (sizes[i] < k || dist < heapD[offI]) sizes[i] = heapPush(heapD, heapI, offI, k, sizes[i], dist, j);
          const offJ = j * k;
          if (sizes[j] < k || dist < heapD[offJ]) sizes[j] = heapPush(heapD, heapI, offJ, k, sizes[j], dist, i);
        }
      }
    }
    if (performance.now() - lastYield > 50) {
      opts.onProgress?.(i1, n);
      await yieldToEventLoop();
      throwIfAborted(opts.signal);
      lastYield = performance.now();
    }
  }
  // The dot-product trick loses a little precision; recompute the kept distances directly.
  for (let i = 0; i < n; i++) {
    const oi = i * d;
    for (let t = 0; t < k; t++) {
      const j = heapI[i * k + t];
      const oj = j * d;
      let s = 0;
      for (let u = 0; u < d; u++) {
        const diff = data[oi + u] - data[oj + u];
        s += diff * diff;
      }
      heapD[i * k + t] = s;
    }
  }
  sortHeapRows(heapD, heapI, n, k);
  opts.onProgress?.(n, n);
  return { n, k, indices: heapI, distances: heapD };
}

export interface ApproxKnnOptions extends KnnOptions {
  /** Number of random-projection trees (default 4). */
  trees?: number;
  /** Maximum leaf size (default and minimum 2k + 2, at least 64); every leaf is searched exhaustively. */
  leafSize?: number;
  /** Neighbour-of-neighbour refinement passes after the forest (default 3; stops early when nothing changes). */
  refinements?: number;
  /** How many of each neighbour's nearest neighbours are candidates in a refinement pass (default 20). */
  exploreWidth?: number;
}

/**
 * Approximate k nearest neighbours: a random-projection forest (each leaf searched exhaustively), then passes of
 * neighbour-of-neighbour exploration (the candidates of i are the nearest neighbours of i's nearest neighbours),
 * which repair most of what the trees miss. Deterministic for a given `random`.
 */
export async function approxKnn(
  data: Float32Array,
  n: number,
  d: number,
  k: number,
  random: () => number,
  opts: ApproxKnnOptions = {},
): Promise<KnnResult> {
  if (k > n - 1) throw new Error(`k = ${k} needs at least ${k + 1} points, got ${n}`);
  if (data.length < n * d) throw new Error(`data has ${data.length} values, expected ${n}×${d}`);
  const trees = Math.max(1, opts.trees ?? 4);
  // Leaves hold between k + 1 and leafSize points, so every point gets k candidates from each tree.
  const leafSize = Math.max(2 * k + 2, opts.leafSize ?? 64);
  const refinements = Math.max(0, opts.refinements ?? 3);
  const width = Math.max(1, Math.min(k, opts.exploreWidth ?? 20));
  if (leafSize >= n || k === 0) return exactKnn(data, n, d, k, opts);
  const heapD = new Float64Array(n * k);
  const heapI = new Int32Array(n * k);
  const sizes = new Int32Array(n);
  const dist = (a: number, b: number): number => {
    const oa = a * d;
    const ob = b * d;
    let s = 0;
    for (let t = 0; t < d; t++) {
      const diff = data[oa + t] - data[ob + t];
      s += diff * diff;
    }
    return s;
  };
  /** Insert j into i's heap unless it is there already. */
  const tryInsert = (i: number, j: number, dd: number): void => {
    const off = i * k;
    const size = sizes[i];
    if (size === k && dd >= heapD[off]) return;
    for (let t = 0; t < size; t++) if (heapI[off + t] === j) return;
    sizes[i] = heapPush(heapD, heapI, off, k, size, dd, j);
  };
  let lastYield = performance.now();
  const work = 2 * trees + refinements; // progress units: a tree counts as two
  const tick = async (done: number): Promise<void> => {
    if (performance.now() - lastYield > 50) {
      opts.onProgress?.(Math.round((done / work) * n), n);
      await yieldToEventLoop();
      throwIfAborted(opts.signal);
      lastYield = performance.now();
    }
  };

  // 1. Random-projection forest.
  const idx = new Int32Array(n);
  const tmp = new Int32Array(n);
  const side = new Uint8Array(n);
  const proj = new Float64Array(n);
  const normal = new Float64Array(d);
  const stackS: number[] = [];
  const stackE: number[] = [];
  for (let tree = 0; tree < trees; tree++) {
    for (let i = 0; i < n; i++) idx[i] = i;
    stackS.push(0);
    stackE.push(n);
    let leaves = 0;
    while (stackS.length > 0) {
      const s0 = stackS.pop()!;
      const s1 = stackE.pop()!;
      const m = s1 - s0;
      if (m <= leafSize) {
        for (let a = s0; a < s1; a++) {
          const ia = idx[a];
          for (let b = a + 1; b < s1; b++) {
            const ib = idx[b];
            const dd = dist(ia, ib);
            tryInsert(ia, ib, dd);
            tryInsert(ib, ia, dd);
          }
        }
        if (++leaves % 32 === 0) await tick(2 * tree + 1);
        continue;
      }
      // Hyperplane equidistant from two random points of the node.
      const a = idx[s0 + Math.floor(random() * m)];
      let b = idx[s0 + Math.floor(random() * m)];
      for (let tries = 0; tries < 8 && b === a; tries++) b = idx[s0 + Math.floor(random() * m)];
      let offset = 0;
      for (let t = 0; t < d; t++) {
        normal[t] = data[a * d + t] - data[b * d + t];
        offset += normal[t] * (data[a * d + t] + data[b * d + t]) * 0.5;
      }
      let ones = 0;
      for (let p = s0; p < s1; p++) {
        const o = idx[p] * d;
        let s = 0;
        for (let t = 0; t < d; t++) s += data[o + t] * normal[t];
        proj[p] = s;
        const l = s > offset ? 1 : s < offset ? 0 : random() < 0.5 ? 1 : 0;
        side[p] = l;
        ones += l;
      }
      if (ones <= k || m - ones <= k) {
        // Too unbalanced for a child to hold k + 1 points: split at the median of the projection instead.
        const order = Array.from({ length: m }, (_, t) => s0 + t).sort((x, y) => proj[x] - proj[y] || x - y);
        ones = m >> 1;
        for (let t = 0; t < m; t++) side[order[t]] = t < ones ? 1 : 0;
      }
      let q1 = s0;
      let q0 = s0 + ones;
      for (let p = s0; p < s1; p++) {
        if (side[p] === 1) tmp[q1++] = idx[p];
        else tmp[q0++] = idx[p];
      }
      idx.set(tmp.subarray(s0, s1), s0);
      stackS.push(s0 + ones);
      stackE.push(s1);
      stackS.push(s0);
      stackE.push(s0 + ones);
    }
    await tick(2 * tree + 2);
  }
  sortHeapRows(heapD, heapI, n, k);

  // 2. Neighbour-of-neighbour refinement, reading the previous pass's sorted lists.
  const seen = new Int32Array(n).fill(-1);
  for (let pass = 0; pass < refinements; pass++) {
    const snapshot = heapI.slice();
    // A row sorted in descending order is a valid max-heap: reverse the ascending rows so pushes work.
    for (let i = 0; i < n; i++) {
      heapD.subarray(i * k, i * k + k).reverse();
      heapI.subarray(i * k, i * k + k).reverse();
    }
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const off = i * k;
      for (let t = 0; t < k; t++) seen[snapshot[off + t]] = i;
      seen[i] = i;
      for (let u = 0; u < width; u++) {
        const j = snapshot[off + u];
        const offJ = j * k;
        for (let v = 0; v < width; v++) {
          const c = snapshot[offJ + v];
          if (seen[c] === i) continue;
          seen[c] = i;
          const dd = dist(i, c);
          if (dd < heapD[off]) {
            sizes[i] = heapPush(heapD, heapI, off, k, sizes[i], dd, c);
            changed++;
          }
        }
      }
      if ((i & 1023) === 1023) await tick(2 * trees + pass + i / n);
    }
    // Rows are heaps again after pushes: sort for the next pass and the result.
    sortHeapRows(heapD, heapI, n, k);
    if (changed === 0) break;
  }
  opts.onProgress?.(n, n);
  return { n, k, indices: heapI, distances: heapD };
}

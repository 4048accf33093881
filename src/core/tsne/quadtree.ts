/**
 * A 2-D Barnes-Hut quadtree in flat typed arrays (no per-node objects), rebuilt every iteration into reused buffers.
 *
 * Nodes own a contiguous range of `perm` (points sorted by cell), so a leaf's points are px/py[start, start+count).
 * The four children of an internal node are consecutive (child, child+1, child+2, child+3); empty ones have count 0.
 */

/** Leaves hold up to this many points (exact interactions inside a leaf that is too close to summarise). */
const LEAF_SIZE = 8;
/** Beyond this depth cells are not split (coincident points would otherwise split forever). */
const MAX_DEPTH = 50;

function f64(len: number, shared: boolean): Float64Array {
  return shared ? new Float64Array(new SharedArrayBuffer(8 * len)) : new Float64Array(len);
}

function i32(len: number, shared: boolean): Int32Array {
  return shared ? new Int32Array(new SharedArrayBuffer(4 * len)) : new Int32Array(len);
}

export class QuadTree {
  /** Arrays read by the traversal live in SharedArrayBuffers (so worker threads can read them). */
  readonly shared: boolean;
  n = 0;
  nodeCount = 0;
  /** Point indices in tree order; px/py are their coordinates in the same order. */
  perm: Int32Array;
  px: Float64Array;
  py: Float64Array;
  private tmpPerm: Int32Array;
  private quad: Uint8Array;
  // Per node.
  comX: Float64Array;
  comY: Float64Array;
  /** Side length of the (square) cell. */
  width: Float64Array;
  /** Lower-left corner of the cell. */
  minX: Float64Array;
  minY: Float64Array;
  count: Int32Array;
  start: Int32Array;
  /** Index of the first of four consecutive children, or -1 for a leaf. */
  child: Int32Array;
  /** Packed per-node [comX, comY, width², count] for the traversal (one cache line per node). */
  packed: Float64Array;

  constructor(n: number, shared = false) {
    this.shared = shared;
    this.perm = i32(n, shared);
    this.px = f64(n, shared);
    this.py = f64(n, shared);
    this.tmpPerm = new Int32Array(n);
    this.quad = new Uint8Array(n);
    const cap = Math.max(64, Math.ceil((n / LEAF_SIZE) * 3));
    this.comX = new Float64Array(cap);
    this.comY = new Float64Array(cap);
    this.width = f64(cap, shared);
    this.minX = f64(cap, shared);
    this.minY = f64(cap, shared);
    this.count = new Int32Array(cap);
    this.start = i32(cap, shared);
    this.child = i32(cap, shared);
    this.packed = f64(4 * cap, shared);
  }

  private grow(need: number): void {
    let cap = this.count.length;
    if (need <= cap) return;
    while (cap < need) cap *= 2;
    const sh = this.shared;
    const g64 = (a: Float64Array, shared: boolean): Float64Array => {
      const b = f64(cap, shared);
      b.set(a);
      return b;
    };
    const g32 = (a: Int32Array, shared: boolean): Int32Array => {
      const b = i32(cap, shared);
      b.set(a);
      return b;
    };
    this.comX = g64(this.comX, false);
    this.comY = g64(this.comY, false);
    this.width = g64(this.width, sh);
    this.minX = g64(this.minX, sh);
    this.minY = g64(this.minY, sh);
    this.count = g32(this.count, false);
    this.start = g32(this.start, sh);
    this.child = g32(this.child, sh);
  }

  /** Build the tree over n points of the row-major n×2 array y. */
  build(y: Float64Array, n: number): void {
    if (this.perm.length < n) throw new Error('QuadTree built with more points than allocated');
    this.n = n;
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = y[2 * i];
      const b = y[2 * i + 1];
      if (a < x0) x0 = a;
      if (a > x1) x1 = a;
      if (b < y0) y0 = b;
      if (b > y1) y1 = b;
      this.perm[i] = i;
    }
    if (n === 0) {
      x0 = y0 = 0;
      x1 = y1 = 0;
    }
    // Square root cell, slightly enlarged so no point lies on the upper boundary.
    let w = Math.max(x1 - x0, y1 - y0);
    w = w > 0 ? w * (1 + 1e-9) + 1e-12 : 1;
    this.nodeCount = 1;
    this.minX[0] = x0;
    this.minY[0] = y0;
    this.width[0] = w;
    this.start[0] = 0;
    this.count[0] = n;
    this.buildNode(0, y, 0);
    for (let s = 0; s < n; s++) {
      const i = this.perm[s];
      this.px[s] = y[2 * i];
      this.py[s] = y[2 * i + 1];
    }
    if (this.packed.length < 4 * this.nodeCount) this.packed = f64(4 * this.count.length, this.shared);
    const pk = this.packed;
    for (let nd = 0; nd < this.nodeCount; nd++) {
      pk[4 * nd] = this.comX[nd];
      pk[4 * nd + 1] = this.comY[nd];
      pk[4 * nd + 2] = this.width[nd] * this.width[nd];
      pk[4 * nd + 3] = this.count[nd];
    }
  }

  private buildNode(node: number, y: Float64Array, depth: number): void {
    const start = this.start[node];
    const count = this.count[node];
    const end = start + count;
    const perm = this.perm;
    if (count <= LEAF_SIZE || depth >= MAX_DEPTH) {
      this.child[node] = -1;
      let sx = 0;
      let sy = 0;
      for (let s = start; s < end; s++) {
        const i = perm[s];
        sx += y[2 * i];
        sy += y[2 * i + 1];
      }
      this.comX[node] = count > 0 ? sx / count : 0;
      this.comY[node] = count > 0 ? sy / count : 0;
      return;
    }
    const half = this.width[node] / 2;
    const cx = this.minX[node] + half;
    const cy = this.minY[node] + half;
    // Stable counting sort of the range into the four quadrants (0: SW, 1: SE, 2: NW, 3: NE).
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    const quad = this.quad;
    for (let s = start; s < end; s++) {
      const i = perm[s];
      const q = (y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0);
      quad[s] = q;
      if (q === 0) c0++;
      else if (q === 1) c1++;
      else if (q === 2) c2++;
      else c3++;
    }
    let p0 = start;
    let p1 = p0 + c0;
    let p2 = p1 + c1;
    let p3 = p2 + c2;
    const tmp = this.tmpPerm;
    for (let s = start; s < end; s++) {
      const q = quad[s];
      const i = perm[s];
      if (q === 0) tmp[p0++] = i;
      else if (q === 1) tmp[p1++] = i;
      else if (q === 2) tmp[p2++] = i;
      else tmp[p3++] = i;
    }
    perm.set(tmp.subarray(start, end), start);
    const first = this.nodeCount;
    this.grow(first + 4);
    this.nodeCount += 4;
    this.child[node] = first;
    const counts = [c0, c1, c2, c3];
    let off = start;
    for (let q = 0; q < 4; q++) {
      const c = first + q;
      this.minX[c] = q & 1 ? cx : this.minX[node];
      this.minY[c] = q & 2 ? cy : this.minY[node];
      this.width[c] = half;
      this.start[c] = off;
      this.count[c] = counts[q];
      off += counts[q];
    }
    let sx = 0;
    let sy = 0;
    for (let q = 0; q < 4; q++) {
      const c = first + q;
      if (this.count[c] === 0) {
        this.child[c] = -1;
        this.comX[c] = 0;
        this.comY[c] = 0;
        continue;
      }
      this.buildNode(c, y, depth + 1);
      sx += this.comX[c] * this.count[c];
      sy += this.comY[c] * this.count[c];
    }
    this.comX[node] = sx / count;
    this.comY[node] = sy / count;
  }
}

/** The arrays of a built tree that the traversal reads. */
export interface TreeView {
  packed: Float64Array;
  child: Int32Array;
  start: Int32Array;
  perm: Int32Array;
  px: Float64Array;
  py: Float64Array;
  minX: Float64Array;
  minY: Float64Array;
  width: Float64Array;
}

/**
 * Barnes-Hut repulsion for the points at tree positions [s0, s1): rep[2i..2i+1] = Σ_j w_ij² (y_i − y_j) with
 * w_ij = 1/(1 + |y_i − y_j|²), a cell summarised by its centre of mass when width/distance < θ; z[s] = Σ_j w_ij
 * for the point at tree position s. Self-contained (no closures, no imports): worker threads run its source text.
 */
export function repulsionRange(t: TreeView, theta: number, s0: number, s1: number, rep: Float64Array, z: Float64Array, stack: Int32Array): void {
  const theta2 = theta * theta;
  // For θ < 1/√2 a cell containing the point can never pass the test; above that, check containment explicitly.
  const checkInside = theta2 >= 0.5;
  const packed = t.packed;
  const start = t.start;
  const child = t.child;
  const perm = t.perm;
  const px = t.px;
  const py = t.py;
  const minX = t.minX;
  const minY = t.minY;
  const width = t.width;
  // Points in tree order: consecutive points walk nearly the same nodes, which keeps those in cache.
  for (let si = s0; si < s1; si++) {
    const i = perm[si];
    const xi = px[si];
    const yi = py[si];
    let fx = 0;
    let fy = 0;
    let zi = 0;
    let sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const nd = stack[--sp];
      const o = 4 * nd;
      const c = packed[o + 3];
      const dx = xi - packed[o];
      const dy = yi - packed[o + 1];
      const d2 = dx * dx + dy * dy;
      if (
        packed[o + 2] < theta2 * d2 &&
        !(checkInside && xi >= minX[nd] && xi < minX[nd] + width[nd] && yi >= minY[nd] && yi < minY[nd] + width[nd])
      ) {
        const w = 1 / (1 + d2);
        const cw = c * w;
        zi += cw;
        fx += cw * w * dx;
        fy += cw * w * dy;
        continue;
      }
      const ch = child[nd];
      if (ch < 0) {
        const e1 = start[nd] + c;
        for (let s = start[nd]; s < e1; s++) {
          if (s === si) continue;
          const ex = xi - px[s];
          const ey = yi - py[s];
          const w = 1 / (1 + ex * ex + ey * ey);
          zi += w;
          fx += w * w * ex;
          fy += w * w * ey;
        }
      } else {
        // Empty children are skipped here rather than popped later.
        if (packed[4 * ch + 15] > 0) stack[sp++] = ch + 3;
        if (packed[4 * ch + 11] > 0) stack[sp++] = ch + 2;
        if (packed[4 * ch + 7] > 0) stack[sp++] = ch + 1;
        if (packed[4 * ch + 3] > 0) stack[sp++] = ch;
      }
    }
    rep[2 * i] = fx;
    rep[2 * i + 1] = fy;
    z[si] = zi;
  }
}

/** Σ of the per-position z values in tree order (the same order whatever the thread split, so results are deterministic). */
export function sumZ(z: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += z[i];
  return s;
}

/** Single-threaded repulsion for all points; returns Z = Σ_{i≠j} w_ij (Barnes-Hut estimate). */
export function repulsiveForces(tree: QuadTree, n: number, theta: number, rep: Float64Array, z: Float64Array, stack: Int32Array): number {
  repulsionRange(tree, theta, 0, n, rep, z, stack);
  return sumZ(z, n);
}

/** Stack size sufficient for traversals of a tree of depth ≤ MAX_DEPTH. */
export function traversalStack(): Int32Array {
  return new Int32Array(4 * (MAX_DEPTH + 2));
}

/**
 * Barnes-Hut t-SNE optimisation (van der Maaten 2014) with openTSNE's documented defaults: early exaggeration 12
 * for 250 iterations with momentum 0.5, then momentum 0.8; delta-bar-delta gains (+0.2 / ×0.8, min 0.01);
 * learning rate max(N / exaggeration, 200). As in bhtsne/openTSNE the gradient omits the constant factor 4 of the
 * paper (their learning rates are defined that way).
 */
import type { CsrMatrix } from './affinities.js';
import { attractionRange, sumRows } from './attraction.js';
import { ForcePool, sharedF64, sharedI32 } from './parallel.js';
import { QuadTree, repulsiveForces, traversalStack } from './quadtree.js';

export interface OptimizeOptions {
  iterations: number;
  theta: number;
  learningRate?: number;
  earlyExaggeration: number;
  earlyExaggerationIterations: number;
  initialMomentum: number;
  finalMomentum: number;
  /** Compute the KL divergence every this many iterations (and at the end). */
  klEvery: number;
  /** Threads for the gradient, the main one included (default 1). Results do not depend on it. */
  threads: number;
  /**
   * Renumber the points by their order in the quadtree (a Z-order of the embedding) every this many iterations
   * (0 = never), so that the sparse-P gathers of the attraction and the tree walks touch nearby memory.
   */
  reorderEvery: number;
}

export const DEFAULT_OPTIMIZE: OptimizeOptions = {
  iterations: 750,
  theta: 0.5,
  earlyExaggeration: 12,
  earlyExaggerationIterations: 250,
  initialMomentum: 0.5,
  finalMomentum: 0.8,
  klEvery: 50,
  threads: 1,
  reorderEvery: 50,
};

export function autoLearningRate(n: number, exaggeration: number): number {
  return Math.max(n / exaggeration, 200);
}

/** Σ p log p over the stored entries (the constant part of KL). */
export function entropyTerm(P: CsrMatrix): number {
  let s = 0;
  for (let e = 0; e < P.values.length; e++) {
    const p = P.values[e];
    if (p > 0) s += p * Math.log(p);
  }
  return s;
}

/**
 * Attractive forces attr[i] = Σ_j p_ij w_ij (y_i − y_j). Returns Σ p_ij log w_ij when withKl (else 0).
 * (Visiting each symmetric pair once and scattering to both points was measured no faster: the gathers dominate.)
 */
export function attractiveForces(P: CsrMatrix, y: Float64Array, attr: Float64Array, withKl = true): number {
  const plogw = withKl ? new Float64Array(P.n) : null;
  attractionRange(P, y, attr, plogw, 0, P.n);
  return plogw ? sumRows(plogw, P.n) : 0;
}

/** The state of one optimisation, advanced one iteration at a time so the caller can stream, yield and abort. */
export class BarnesHutOptimizer {
  readonly n: number;
  /** The caller's embedding (n×2, row-major, caller's point order), written after every step. */
  readonly y: Float64Array;
  readonly opts: OptimizeOptions;
  readonly learningRate: number;
  iteration = 0;
  /** KL divergence at the last iteration where it was computed (BH estimate of Z, exact over the sparse P). */
  kl: number | undefined;
  /** Accumulated wall milliseconds per phase (for benchmarks; with threads the tree build is inside attraction). */
  readonly phaseMs = { tree: 0, repulsion: 0, attraction: 0, update: 0, reorder: 0 };
  /** P, positions and optimiser state in the internal point order (shared memory: worker threads read them). */
  private readonly P: { n: number; rowPtr: Int32Array; cols: Int32Array; values: Float32Array };
  private readonly yi: Float64Array;
  /** Caller's index of each internal point. */
  private readonly ext: Int32Array;
  private readonly pLogP: number;
  private readonly tree: QuadTree;
  private readonly stack = traversalStack();
  private readonly attr: Float64Array;
  private readonly plogw: Float64Array;
  private readonly rep: Float64Array;
  private readonly z: Float64Array;
  private readonly pool: ForcePool | undefined;
  private readonly update: Float64Array;
  private readonly gains: Float64Array;
  private scratch:
    | { rowPtr: Int32Array; cols: Int32Array; values: Float32Array; inv: Int32Array; ext: Int32Array; v: Float64Array }
    | undefined;

  /** `y` (n×2, row-major) is the initial embedding and is updated in place. P is copied (and not modified). */
  constructor(P: CsrMatrix, y: Float64Array, opts: Partial<OptimizeOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIMIZE, ...opts };
    const n = P.n;
    this.n = n;
    this.y = y;
    this.learningRate = this.opts.learningRate ?? autoLearningRate(n, this.opts.earlyExaggeration);
    this.pLogP = entropyTerm(P);
    const nnz = P.rowPtr[n];
    this.P = { n, rowPtr: sharedI32(n + 1), cols: sharedI32(nnz), values: new Float32Array(new SharedArrayBuffer(4 * Math.max(nnz, 1)), 0, nnz) };
    this.P.rowPtr.set(P.rowPtr.subarray(0, n + 1));
    this.P.cols.set(P.cols.subarray(0, nnz));
    this.P.values.set(P.values.subarray(0, nnz));
    this.yi = sharedF64(2 * n);
    this.yi.set(y.subarray(0, 2 * n));
    this.ext = new Int32Array(n);
    for (let i = 0; i < n; i++) this.ext[i] = i;
    const threads = Math.max(1, Math.floor(this.opts.threads));
    this.tree = new QuadTree(n, threads > 1);
    this.attr = sharedF64(2 * n);
    this.plogw = sharedF64(n);
    this.rep = sharedF64(2 * n);
    this.z = sharedF64(n);
    this.pool = threads > 1 ? new ForcePool(n, threads, this.P, this.yi, this.rep, this.z, this.attr, this.plogw) : undefined;
    this.update = new Float64Array(2 * n);
    this.gains = new Float64Array(2 * n).fill(1);
  }

  get done(): boolean {
    return this.iteration >= this.opts.iterations;
  }

  /** Forces at the current positions into attr/rep; returns Z and Σ p log w. */
  private async forces(withKl: boolean): Promise<{ z: number; plogw: number }> {
    const n = this.n;
    const t0 = performance.now();
    let t1: number;
    if (this.pool) {
      await this.pool.buildAndAttract(this.tree, withKl);
      t1 = performance.now();
      this.phaseMs.attraction += t1 - t0;
    } else {
      this.tree.build(this.yi, n);
      const ta = performance.now();
      attractionRange(this.P, this.yi, this.attr, withKl ? this.plogw : null, 0, n);
      t1 = performance.now();
      this.phaseMs.tree += ta - t0;
      this.phaseMs.attraction += t1 - ta;
    }
    const z = this.pool
      ? await this.pool.repulsion(this.tree, this.opts.theta)
      : repulsiveForces(this.tree, n, this.opts.theta, this.rep, this.z, this.stack);
    this.phaseMs.repulsion += performance.now() - t1;
    return { z, plogw: withKl ? sumRows(this.plogw, n) : 0 };
  }

  private klFrom(z: number, plogw: number): number {
    // KL = Σ p log(p / q), q = w / Z, Σ p = 1.
    return this.pLogP - plogw + Math.log(z);
  }

  /** Renumber the points by their order in a quadtree of the current positions (P, positions and state follow). */
  private reorder(): void {
    const n = this.n;
    const P = this.P;
    const nnz = P.rowPtr[n];
    this.tree.build(this.yi, n);
    const perm = this.tree.perm;
    const sc = (this.scratch ??= {
      rowPtr: new Int32Array(n + 1),
      cols: new Int32Array(nnz),
      values: new Float32Array(nnz),
      inv: new Int32Array(n),
      ext: new Int32Array(n),
      v: new Float64Array(2 * n),
    });
    const { inv, v } = sc;
    for (let s = 0; s < n; s++) inv[perm[s]] = s;
    const permute2 = (a: Float64Array): void => {
      for (let s = 0; s < n; s++) {
        const i = perm[s];
        v[2 * s] = a[2 * i];
        v[2 * s + 1] = a[2 * i + 1];
      }
      a.set(v);
    };
    permute2(this.yi);
    permute2(this.update);
    permute2(this.gains);
    for (let s = 0; s < n; s++) sc.ext[s] = this.ext[perm[s]];
    this.ext.set(sc.ext);
    // Rows in the new order, entries kept in their order within a row (so each row's sums are unchanged).
    let e = 0;
    sc.rowPtr[0] = 0;
    for (let s = 0; s < n; s++) {
      const i = perm[s];
      const a1 = P.rowPtr[i + 1];
      for (let a = P.rowPtr[i]; a < a1; a++, e++) {
        sc.cols[e] = inv[P.cols[a]];
        sc.values[e] = P.values[a];
      }
      sc.rowPtr[s + 1] = e;
    }
    P.rowPtr.set(sc.rowPtr);
    P.cols.set(sc.cols);
    P.values.set(sc.values);
  }

  /** Copy the internal positions to the caller's array. */
  private writeBack(): void {
    const { y, yi, ext, n } = this;
    for (let s = 0; s < n; s++) {
      const i = ext[s];
      y[2 * i] = yi[2 * s];
      y[2 * i + 1] = yi[2 * s + 1];
    }
  }

  /** One gradient step. */
  async step(): Promise<void> {
    const o = this.opts;
    const it = this.iteration;
    if (o.reorderEvery > 0 && it % o.reorderEvery === 0) {
      const tr = performance.now();
      this.reorder();
      this.phaseMs.reorder += performance.now() - tr;
    }
    const early = it < o.earlyExaggerationIterations;
    const exaggeration = early ? o.earlyExaggeration : 1;
    const momentum = early ? o.initialMomentum : o.finalMomentum;
    // KL of the positions at the start of this step, reported as that of iteration it + 1 (a multiple of klEvery).
    const withKl = o.klEvery > 0 && (it + 1) % o.klEvery === 0;
    const { z, plogw } = await this.forces(withKl);
    const tu = performance.now();
    if (withKl) this.kl = this.klFrom(z, plogw);
    const invZ = z > 0 ? 1 / z : 0;
    const { yi: y, attr, rep, update, gains } = this;
    const lr = this.learningRate;
    const len = 2 * this.n;
    let mx = 0;
    let my = 0;
    for (let c = 0; c < len; c++) {
      const g = exaggeration * attr[c] - rep[c] * invZ;
      let gain = gains[c];
      // Delta-bar-delta: grow the gain while the gradient keeps pointing the way we are moving.
      gain = update[c] * g < 0 ? gain + 0.2 : gain * 0.8;
      if (gain < 0.01) gain = 0.01;
      gains[c] = gain;
      const u = momentum * update[c] - lr * gain * g;
      update[c] = u;
      y[c] += u;
      if (c & 1) my += y[c];
      else mx += y[c];
    }
    // Keep the embedding centred (translation does not change the objective).
    if (this.n > 0) {
      mx /= this.n;
      my /= this.n;
      for (let i = 0; i < this.n; i++) {
        y[2 * i] -= mx;
        y[2 * i + 1] -= my;
      }
    }
    this.writeBack();
    this.iteration++;
    this.phaseMs.update += performance.now() - tu;
  }

  /** KL divergence of the current positions (one extra force evaluation). */
  async computeKl(): Promise<number> {
    const { z, plogw } = await this.forces(true);
    this.kl = this.klFrom(z, plogw);
    return this.kl;
  }

  /** Stop the worker threads (if any). The optimizer cannot step afterwards. */
  async close(): Promise<void> {
    await this.pool?.close();
  }
}

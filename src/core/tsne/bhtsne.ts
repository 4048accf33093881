/**
 * Barnes-Hut t-SNE optimisation (van der Maaten 2014) with openTSNE's documented defaults: early exaggeration 12
 * for 250 iterations with momentum 0.5, then momentum 0.8; delta-bar-delta gains (+0.2 / ×0.8, min 0.01);
 * learning rate max(N / exaggeration, 200). As in bhtsne/openTSNE the gradient omits the constant factor 4 of the
 * paper (their learning rates are defined that way).
 */
import type { CsrMatrix } from './affinities.js';
import { RepulsionPool } from './parallel.js';
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
  /** Threads for the repulsion, the main one included (default 1). Results do not depend on it. */
  threads: number;
}

export const DEFAULT_OPTIMIZE: OptimizeOptions = {
  iterations: 1000,
  theta: 0.5,
  earlyExaggeration: 12,
  earlyExaggerationIterations: 250,
  initialMomentum: 0.5,
  finalMomentum: 0.8,
  klEvery: 50,
  threads: 1,
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
  const { n, rowPtr, cols, values } = P;
  let plogw = 0;
  for (let i = 0; i < n; i++) {
    const xi = y[2 * i];
    const yi = y[2 * i + 1];
    let fx = 0;
    let fy = 0;
    const e1 = rowPtr[i + 1];
    for (let e = rowPtr[i]; e < e1; e++) {
      const j = cols[e];
      const dx = xi - y[2 * j];
      const dy = yi - y[2 * j + 1];
      const pw = values[e] / (1 + dx * dx + dy * dy);
      fx += pw * dx;
      fy += pw * dy;
    }
    attr[2 * i] = fx;
    attr[2 * i + 1] = fy;
    if (withKl) {
      let lw = 0;
      for (let e = rowPtr[i]; e < e1; e++) {
        const j = cols[e];
        const dx = xi - y[2 * j];
        const dy = yi - y[2 * j + 1];
        lw -= values[e] * Math.log(1 + dx * dx + dy * dy);
      }
      plogw += lw;
    }
  }
  return plogw;
}

/** The state of one optimisation, advanced one iteration at a time so the caller can stream, yield and abort. */
export class BarnesHutOptimizer {
  readonly n: number;
  readonly y: Float64Array;
  readonly opts: OptimizeOptions;
  readonly learningRate: number;
  iteration = 0;
  /** KL divergence at the last iteration where it was computed (BH estimate of Z, exact over the sparse P). */
  kl: number | undefined;
  private readonly P: CsrMatrix;
  private readonly pLogP: number;
  private readonly tree: QuadTree;
  private readonly stack = traversalStack();
  private readonly attr: Float64Array;
  private readonly rep: Float64Array;
  private readonly z: Float64Array;
  private readonly pool: RepulsionPool | undefined;
  private readonly update: Float64Array;
  private readonly gains: Float64Array;

  /** `y` (n×2, row-major) is the initial embedding and is updated in place. */
  constructor(P: CsrMatrix, y: Float64Array, opts: Partial<OptimizeOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIMIZE, ...opts };
    this.n = P.n;
    this.P = P;
    this.y = y;
    this.learningRate = this.opts.learningRate ?? autoLearningRate(this.n, this.opts.earlyExaggeration);
    this.pLogP = entropyTerm(P);
    const threads = Math.max(1, Math.floor(this.opts.threads));
    this.pool = threads > 1 ? new RepulsionPool(this.n, threads) : undefined;
    this.tree = new QuadTree(this.n, this.pool !== undefined);
    this.attr = new Float64Array(2 * this.n);
    this.rep = this.pool ? this.pool.rep : new Float64Array(2 * this.n);
    this.z = this.pool ? this.pool.z : new Float64Array(this.n);
    this.update = new Float64Array(2 * this.n);
    this.gains = new Float64Array(2 * this.n).fill(1);
  }

  get done(): boolean {
    return this.iteration >= this.opts.iterations;
  }

  /** Forces at the current positions into attr/rep; returns Z and Σ p log w. */
  private async forces(withKl: boolean): Promise<{ z: number; plogw: number }> {
    this.tree.build(this.y, this.n);
    const z = this.pool
      ? await this.pool.run(this.tree, this.opts.theta)
      : repulsiveForces(this.tree, this.n, this.opts.theta, this.rep, this.z, this.stack);
    const plogw = attractiveForces(this.P, this.y, this.attr, withKl);
    return { z, plogw };
  }

  private klFrom(z: number, plogw: number): number {
    // KL = Σ p log(p / q), q = w / Z, Σ p = 1.
    return this.pLogP - plogw + Math.log(z);
  }

  /** One gradient step. */
  async step(): Promise<void> {
    const o = this.opts;
    const it = this.iteration;
    const early = it < o.earlyExaggerationIterations;
    const exaggeration = early ? o.earlyExaggeration : 1;
    const momentum = early ? o.initialMomentum : o.finalMomentum;
    // KL of the positions at the start of this step, reported as that of iteration it + 1 (a multiple of klEvery).
    const withKl = o.klEvery > 0 && (it + 1) % o.klEvery === 0;
    const { z, plogw } = await this.forces(withKl);
    if (withKl) this.kl = this.klFrom(z, plogw);
    const invZ = z > 0 ? 1 / z : 0;
    const { y, attr, rep, update, gains } = this;
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
    this.iteration++;
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

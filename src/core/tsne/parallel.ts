/**
 * Worker threads for the t-SNE gradient. Everything the workers read (P, the positions, the tree) lives in
 * SharedArrayBuffers; each thread (the main one included) handles a contiguous range of rows and writes only its own
 * slice of the outputs. Per-row results are independent of the split and Z / Σ p log w are summed afterwards in a
 * fixed order, so the result is bit-identical whatever the number of threads or the split. That lets the split
 * follow the measured speed of each thread (the machine may be shared), and lets the main thread build the tree
 * while the workers start on the attraction.
 *
 * The worker runs the source text of `repulsionRange` / `attractionRange` (eval worker), so it works the same from
 * TypeScript sources (tsx, vitest) and from the compiled JavaScript.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { attractionRange, type SharedCsr } from './attraction.js';
import { QuadTree, repulsionRange, sumZ, traversalStack, type TreeView } from './quadtree.js';

function workerSource(): string {
  return `'use strict';
const { parentPort } = require('node:worker_threads');
const repulsionRange = ${repulsionRange.toString()};
const attractionRange = ${attractionRange.toString()};
const stack = new Int32Array(${traversalStack().length});
let P;
let y;
let attr;
let plogw;
parentPort.on('message', (m) => {
  const t0 = performance.now();
  if (m.kind === 'init') {
    P = m.P;
    y = m.y;
    attr = m.attr;
    plogw = m.plogw;
    return;
  } else if (m.kind === 'attr') {
    attractionRange(P, y, attr, m.withKl ? plogw : null, m.i0, m.i1);
  } else {
    repulsionRange(m.tree, m.theta, m.s0, m.s1, m.rep, m.z, stack);
  }
  parentPort.postMessage(performance.now() - t0);
});
`;
}

/** Threads worth using for n points when the caller did not say: none below 5,000 points. */
export function defaultThreads(n: number): number {
  return n < 5000 ? 1 : Math.max(1, Math.min(availableParallelism(), 4));
}

export function sharedF64(len: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * Math.max(len, 1)), 0, len);
}

export function sharedI32(len: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * Math.max(len, 1)), 0, len);
}

/**
 * Split [0, n) into parts with sizes proportional to `weights` (boundaries by `cum`, a non-decreasing cost per
 * prefix, e.g. CSR row offsets; identity when absent).
 */
function splitBounds(n: number, weights: number[], cum?: Int32Array): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const b = [0];
  let acc = 0;
  const last = cum ? cum[n] : n;
  for (let p = 0; p < weights.length - 1; p++) {
    acc += weights[p];
    const target = (acc / total) * last;
    let r: number;
    if (!cum) r = Math.round(target);
    else {
      // First row whose prefix cost reaches the target.
      let lo = b[p];
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cum[mid] < target) lo = mid + 1;
        else hi = mid;
      }
      r = lo;
    }
    b.push(Math.max(b[p], Math.min(n, r)));
  }
  b.push(n);
  return b;
}

export class ForcePool {
  private readonly workers: Worker[] = [];
  private readonly pending: (((ms: number, err?: Error) => void) | undefined)[] = [];
  private readonly stack = traversalStack();
  /** Relative speed of each thread (main first), learnt from the timings of the last iterations. */
  private readonly speed: number[];
  private readonly attrSpeed: number[];
  /** Milliseconds of the main thread's last tree build. */
  private treeMs = 0;

  /** `threads` counts the main thread: threads − 1 workers are started. P, y, attr, plogw must be shared. */
  constructor(
    readonly n: number,
    threads: number,
    private readonly P: SharedCsr,
    private readonly y: Float64Array,
    readonly rep: Float64Array,
    readonly z: Float64Array,
    private readonly attr: Float64Array,
    private readonly plogw: Float64Array,
  ) {
    const src = workerSource();
    for (let w = 0; w < threads - 1; w++) {
      const worker = new Worker(src, { eval: true });
      const k = this.workers.length;
      worker.on('message', (ms: number) => this.settle(k, ms));
      worker.on('error', (e) => this.settle(k, 0, e instanceof Error ? e : new Error(String(e))));
      worker.on('exit', (code) => this.settle(k, 0, new Error(`t-SNE worker exited (${code})`)));
      this.workers.push(worker);
      this.pending.push(undefined);
    }
    this.speed = new Array<number>(threads).fill(1);
    this.attrSpeed = new Array<number>(threads).fill(1);
    // Messages arrive in order: no reply needed before the first job.
    for (const worker of this.workers) worker.postMessage({ kind: 'init', P, y, attr, plogw });
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private settle(k: number, ms: number, err?: Error): void {
    const f = this.pending[k];
    this.pending[k] = undefined;
    f?.(ms, err);
  }

  /** Send one message to every worker; resolves with each worker's reported milliseconds. */
  private post(msg: (k: number) => object, onDone: (k: number, ms: number) => void): Promise<void[]> {
    return Promise.all(
      this.workers.map(
        (worker, k) =>
          new Promise<void>((resolve, reject) => {
            this.pending[k] = (ms, err) => {
              if (err) reject(err);
              else {
                onDone(k, ms);
                resolve();
              }
            };
            worker.postMessage(msg(k));
          }),
      ),
    );
  }

  private static learn(speed: number[], p: number, rows: number, ms: number): void {
    if (rows <= 0 || !(ms > 0)) return;
    const s = rows / ms;
    speed[p] = 0.5 * speed[p] + 0.5 * s;
  }

  /**
   * Tree build (main thread) overlapped with the attraction (workers first, then the main thread's share).
   * Fills attr (and plogw per row when withKl).
   */
  async buildAndAttract(tree: QuadTree, withKl: boolean): Promise<void> {
    const n = this.n;
    const { rowPtr } = this.P;
    const parts = this.threads;
    // Main's share is reduced by the time it spends on the tree: weights in rows/ms, main's time budget minus tree.
    const w = this.attrSpeed.slice();
    const nnz = rowPtr[n];
    const totalRate = w.reduce((a, b) => a + b, 0);
    const finish = (nnz + this.treeMs * w[0]) / totalRate; // common finishing time (ms) if perfectly balanced
    w[0] = Math.max(0, (finish - this.treeMs) * w[0]);
    for (let p = 1; p < parts; p++) w[p] = finish * w[p];
    const b = splitBounds(n, w.some((v) => v > 0) ? w : new Array<number>(parts).fill(1), rowPtr);
    // Workers take the ranges after the main thread's (main: [b0, b1)).
    const jobs = this.post(
      (k) => ({ kind: 'attr', i0: b[k + 1], i1: b[k + 2], withKl }),
      (k, ms) => ForcePool.learn(this.attrSpeed, k + 1, rowPtr[b[k + 2]] - rowPtr[b[k + 1]], ms),
    );
    const t0 = performance.now();
    tree.build(this.y, n);
    const t1 = performance.now();
    this.treeMs = t1 - t0;
    attractionRange(this.P, this.y, this.attr, withKl ? this.plogw : null, b[0], b[1]);
    ForcePool.learn(this.attrSpeed, 0, rowPtr[b[1]] - rowPtr[b[0]], performance.now() - t1);
    await jobs;
  }

  /** Repulsive forces of all points into this.rep; returns Z. The tree must have been built with shared = true. */
  async repulsion(tree: QuadTree, theta: number): Promise<number> {
    const n = this.n;
    const view: TreeView = {
      packed: tree.packed,
      child: tree.child,
      start: tree.start,
      perm: tree.perm,
      px: tree.px,
      py: tree.py,
      minX: tree.minX,
      minY: tree.minY,
      width: tree.width,
    };
    const b = splitBounds(n, this.speed);
    const jobs = this.post(
      (k) => ({ kind: 'rep', tree: view, theta, s0: b[k + 1], s1: b[k + 2], rep: this.rep, z: this.z }),
      (k, ms) => ForcePool.learn(this.speed, k + 1, b[k + 2] - b[k + 1], ms),
    );
    const t0 = performance.now();
    repulsionRange(view, theta, b[0], b[1], this.rep, this.z, this.stack);
    ForcePool.learn(this.speed, 0, b[1] - b[0], performance.now() - t0);
    await jobs;
    return sumZ(this.z, n);
  }

  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    for (let k = 0; k < this.pending.length; k++) this.pending[k] = undefined;
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/**
 * Worker threads for the Barnes-Hut repulsion: the tree lives in SharedArrayBuffers, each thread (the main one
 * included) traverses it for a contiguous range of points in tree order and writes its own slice of the outputs.
 * Z is summed afterwards in tree order, so the result is bit-identical whatever the number of threads.
 *
 * The worker runs the source text of `repulsionRange` (eval worker), so it works the same from TypeScript sources
 * (tsx, vitest) and from the compiled JavaScript.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { QuadTree, repulsionRange, sumZ, traversalStack, type TreeView } from './quadtree.js';

interface Job {
  tree: TreeView;
  theta: number;
  s0: number;
  s1: number;
  rep: Float64Array;
  z: Float64Array;
}

function workerSource(): string {
  return `'use strict';
const { parentPort } = require('node:worker_threads');
const repulsionRange = ${repulsionRange.toString()};
const stack = new Int32Array(${traversalStack().length});
parentPort.on('message', (m) => {
  repulsionRange(m.tree, m.theta, m.s0, m.s1, m.rep, m.z, stack);
  parentPort.postMessage(0);
});
`;
}

/** Threads worth using for n points when the caller did not say: none below 5,000 points. */
export function defaultThreads(n: number): number {
  return n < 5000 ? 1 : Math.max(1, Math.min(availableParallelism(), 4));
}

export class RepulsionPool {
  private readonly workers: Worker[] = [];
  private readonly pending: (((err?: Error) => void) | undefined)[] = [];
  private readonly stack = traversalStack();
  /** Shared outputs (rep: n×2, z: n). */
  readonly rep: Float64Array;
  readonly z: Float64Array;

  /** `threads` counts the main thread: threads − 1 workers are started. */
  constructor(
    readonly n: number,
    threads: number,
  ) {
    this.rep = new Float64Array(new SharedArrayBuffer(16 * Math.max(n, 1)));
    this.z = new Float64Array(new SharedArrayBuffer(8 * Math.max(n, 1)));
    const src = workerSource();
    for (let w = 0; w < threads - 1; w++) {
      const worker = new Worker(src, { eval: true });
      const k = this.workers.length;
      worker.on('message', () => this.settle(k));
      worker.on('error', (e) => this.settle(k, e instanceof Error ? e : new Error(String(e))));
      worker.on('exit', (code) => this.settle(k, new Error(`t-SNE worker exited (${code})`)));
      this.workers.push(worker);
      this.pending.push(undefined);
    }
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private settle(k: number, err?: Error): void {
    const f = this.pending[k];
    this.pending[k] = undefined;
    f?.(err);
  }

  /** Repulsive forces of all points into this.rep; returns Z. The tree must have been built with shared = true. */
  async run(tree: QuadTree, theta: number): Promise<number> {
    const n = this.n;
    const parts = this.threads;
    const bound = (p: number): number => Math.round((p * n) / parts);
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
    const jobs = this.workers.map(
      (worker, k) =>
        new Promise<void>((resolve, reject) => {
          this.pending[k] = (err) => (err ? reject(err) : resolve());
          const job: Job = { tree: view, theta, s0: bound(k + 1), s1: bound(k + 2), rep: this.rep, z: this.z };
          worker.postMessage(job);
        }),
    );
    repulsionRange(view, theta, 0, bound(1), this.rep, this.z, this.stack);
    await Promise.all(jobs);
    return sumZ(this.z, n);
  }

  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    for (let k = 0; k < this.pending.length; k++) this.pending[k] = undefined;
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

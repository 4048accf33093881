import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ProjectOptions, ProjectionFrame, ProjectionResult, Projector } from './projection.js';
import { gaussian, sampleIndices } from './random.js';
import { CancelledError, UserError, throwIfAborted, yieldToEventLoop, type Random, type StepOptions } from './types.js';

export interface TsneJsOptions {
  /** Largest input run exactly; above it t-SNE runs on a seeded sample of this many rows and the rest are placed. */
  maxExact?: number;
  /**
   * tsne-js `nIter`: total gradient-descent iterations, counting its fixed 100 early-exaggeration iterations
   * (tsne-js always runs those, so values below ~150 give a map that is barely past exaggeration).
   */
  iterations?: number;
  perplexity?: number;
  /** Sampled neighbours used to place each non-sampled row; default 5. */
  neighbours?: number;
  /**
   * Gradient-descent step. Default: autoLearningRate(points optimised) = clamp(N / 5, 50, 1000). tsne-js's own fixed 1000
   * makes small maps blow up (150 blob points: KL 2.5 and points flung hundreds of units out, vs 0.28 at 50).
   */
  learningRate?: number;
}

/**
 * Defaults, measured on this 2-core machine with tsne-js 1.0.3 (exact, O(N²) per iteration, ~180 ms per iteration at
 * 1,000 points, ~4× that at 2,000): a 2,000-point input runs t-SNE on 1,000 sampled points for 180 iterations (~40 s)
 * and places the other 1,000 from their nearest sampled neighbours.
 */
export const TSNEJS_DEFAULTS = { maxExact: 1000, iterations: 180, perplexity: 30, neighbours: 5 } as const;

/** Learning rate for N optimised points: N / 5, at least 50, at most tsne-js's default 1000. */
export function autoLearningRate(n: number): number {
  return Math.max(50, Math.min(1000, n / 5));
}

/** Frames are streamed every this many iterations. */
const FRAME_EVERY = 10;

/**
 * The worker: tsne-js's `run()` is one synchronous call (it only emits events while it runs), so in the main thread it
 * would block the event loop for tens of seconds and no abort or progress could get through. In a worker it runs
 * unchanged, the main thread stays responsive, and an abort terminates the worker at once.
 *
 * Randomness: tsne-js draws its initial embedding from Math.random (dist/randn.js; nothing else in it is random).
 * The injected `random` cannot cross into the worker, so the main thread draws a 32-bit seed from it and the worker
 * replaces Math.random with a seeded mulberry32 before `init()`. That worker is this run's own isolate and is
 * terminated afterwards, so nothing else ever sees the replaced Math.random (no restore needed), and the same
 * `random` state gives the same map.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const TSNE = require(workerData.modulePath);
const { data, n, d, perplexity, iterations, seed, frameEvery, learningRate } = workerData;
let a = seed >>> 0;
Math.random = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const rows = new Array(n);
for (let i = 0; i < n; i++) rows[i] = Array.from(data.subarray(i * d, i * d + d));
const tsne = new TSNE({ dim: 2, perplexity, nIter: iterations, earlyExaggeration: 4.0, learningRate, metric: 'euclidean' });
tsne.init({ data: rows, type: 'dense' });
tsne.on('progressStatus', (status) => parentPort.postMessage({ type: 'status', status }));
let count = 0;
tsne.on('progressIter', ([iteration, kl]) => {
  count++;
  if (count % frameEvery === 0) {
    const coords = Float32Array.from(tsne.outputEmbedding.data);
    parentPort.postMessage({ type: 'frame', iteration, kl, coords }, [coords.buffer]);
  } else {
    parentPort.postMessage({ type: 'iter', iteration, kl });
  }
});
const [kl, iteration] = tsne.run();
const coords = Float32Array.from(tsne.outputEmbedding.data);
parentPort.postMessage({ type: 'done', kl, iteration, coords }, [coords.buffer]);
`;

type WorkerMessage =
  | { type: 'status'; status: string }
  | { type: 'iter'; iteration: number; kl: number }
  | { type: 'frame'; iteration: number; kl: number; coords: Float32Array }
  | { type: 'done'; iteration: number; kl: number; coords: Float32Array };

interface RunArgs {
  data: Float32Array;
  n: number;
  d: number;
  perplexity: number;
  iterations: number;
  learningRate: number;
  seed: number;
  indices?: Uint32Array;
}

function runTsneJs(args: RunArgs, opts: ProjectOptions): Promise<{ coords: Float32Array; kl: number }> {
  const { data, n, d, perplexity, iterations, learningRate, seed, indices } = args;
  const modulePath = createRequire(import.meta.url).resolve('tsne-js');
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { modulePath, data, n, d, perplexity, iterations, learningRate, seed, frameEvery: FRAME_EVERY } });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => {
      finish(() => reject(new CancelledError()));
      void worker.terminate();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (msg: WorkerMessage) => {
      if (settled) return;
      try {
        if (msg.type === 'status') {
          opts.onProgress?.({ step: 'tsne', done: 0, total: iterations, message: `tsne-js: ${msg.status.toLowerCase()}` });
        } else if (msg.type === 'iter' || msg.type === 'frame') {
          opts.onProgress?.({ step: 'tsne', done: Math.min(msg.iteration + 1, iterations), total: iterations, message: `iteration ${msg.iteration + 1}/${iterations}, KL ${msg.kl.toFixed(3)}` });
          if (msg.type === 'frame') {
            const frame: ProjectionFrame = { iteration: msg.iteration + 1, totalIterations: iterations, coords: msg.coords, kl: msg.kl };
            if (indices) frame.indices = indices;
            opts.onFrame?.(frame);
          }
        } else {
          opts.onProgress?.({ step: 'tsne', done: iterations, total: iterations, message: `KL ${msg.kl.toFixed(3)}` });
          finish(() => resolve({ coords: msg.coords, kl: msg.kl }));
          void worker.terminate();
        }
      } catch (err) {
        // A throwing callback ends the run like an abort would.
        finish(() => reject(err));
        void worker.terminate();
      }
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`tsne-js worker exited (code ${code}) before finishing`))));
  });
}

/** Indices and squared distances of the `k` nearest rows of `ref` (m×d) to row `q` of `data`, ascending. */
function nearest(data: Float32Array, q: number, ref: Float32Array, m: number, d: number, k: number, outIdx: Int32Array, outDist: Float64Array): void {
  outIdx.fill(-1);
  outDist.fill(Infinity);
  const o = q * d;
  for (let r = 0; r < m; r++) {
    const p = r * d;
    let s = 0;
    for (let j = 0; j < d; j++) {
      const t = data[o + j] - ref[p + j];
      s += t * t;
    }
    if (s >= outDist[k - 1]) continue;
    let pos = k - 1;
    while (pos > 0 && outDist[pos - 1] > s) {
      outDist[pos] = outDist[pos - 1];
      outIdx[pos] = outIdx[pos - 1];
      pos--;
    }
    outDist[pos] = s;
    outIdx[pos] = r;
  }
}

/** Median distance from each sampled 2-D point to its nearest other sampled point: the map's local spacing. */
function medianSpacing(coords: Float32Array, m: number): number {
  if (m < 2) return 1;
  const nn = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let best = Infinity;
    for (let j = 0; j < m; j++) {
      if (j === i) continue;
      const dx = coords[2 * i] - coords[2 * j];
      const dy = coords[2 * i + 1] - coords[2 * j + 1];
      const s = dx * dx + dy * dy;
      if (s < best) best = s;
    }
    nn[i] = Math.sqrt(best);
  }
  nn.sort();
  return nn[m >> 1] || 1;
}

/**
 * Places every row not in `indices` at the inverse-distance-weighted mean of the 2-D positions of its `k` nearest sampled
 * rows (input-space Euclidean distances, brute force, blocks of rows between event-loop yields), plus a small seeded
 * Gaussian jitter (sd = `opts.jitter`, default 0.25, times the map's median nearest-neighbour spacing) so that rows with
 * the same neighbours do not stack. A row identical to a sampled row starts at that row's position.
 */
export async function placeFromSample(
  data: Float32Array,
  n: number,
  d: number,
  indices: Uint32Array,
  sampleCoords: Float32Array,
  k: number,
  random: Random,
  opts: StepOptions & { jitter?: number } = {},
): Promise<Float32Array> {
  const m = indices.length;
  const kk = Math.max(1, Math.min(k, m));
  const ref = new Float32Array(m * d);
  for (let r = 0; r < m; r++) ref.set(data.subarray(indices[r] * d, indices[r] * d + d), r * d);
  const coords = new Float32Array(n * 2);
  const sampled = new Uint8Array(n);
  for (let r = 0; r < m; r++) {
    sampled[indices[r]] = 1;
    coords[2 * indices[r]] = sampleCoords[2 * r];
    coords[2 * indices[r] + 1] = sampleCoords[2 * r + 1];
  }
  const jitter = (opts.jitter ?? 0.25) * medianSpacing(sampleCoords, m);
  const idx = new Int32Array(kk);
  const dist = new Float64Array(kk);
  const block = Math.max(64, Math.floor(4_000_000 / Math.max(1, m * d)));
  const toPlace = n - m;
  let placed = 0;
  for (let i0 = 0; i0 < n; i0 += block) {
    throwIfAborted(opts.signal);
    const i1 = Math.min(n, i0 + block);
    for (let i = i0; i < i1; i++) {
      if (sampled[i]) continue;
      nearest(data, i, ref, m, d, kk, idx, dist);
      let x = 0;
      let y = 0;
      if (dist[0] === 0) {
        x = sampleCoords[2 * idx[0]];
        y = sampleCoords[2 * idx[0] + 1];
      } else {
        let wsum = 0;
        for (let t = 0; t < kk; t++) {
          if (idx[t] < 0) break;
          const w = 1 / Math.sqrt(dist[t]);
          x += w * sampleCoords[2 * idx[t]];
          y += w * sampleCoords[2 * idx[t] + 1];
          wsum += w;
        }
        x /= wsum;
        y /= wsum;
      }
      coords[2 * i] = x + jitter * gaussian(random);
      coords[2 * i + 1] = y + jitter * gaussian(random);
      placed++;
    }
    opts.onProgress?.({ step: 'tsne', done: placed, total: toPlace, message: `placing ${toPlace.toLocaleString('en-US')} points from their sampled neighbours` });
    await yieldToEventLoop();
  }
  return coords;
}

/**
 * Exact t-SNE with tsne-js (O(N²) time and memory per iteration), run in a worker thread. Inputs larger than `maxExact`
 * are projected through a seeded sample of `maxExact` rows; the other rows are placed from their nearest sampled
 * neighbours (see placeFromSample) and `note` says so. Frames (every 10 iterations) hold the optimised rows only.
 */
export class TsneJsProjector implements Projector {
  readonly name = 'tsne-js';
  readonly maxExact: number;
  readonly iterations: number;
  readonly perplexity: number;
  readonly neighbours: number;
  readonly learningRate: number | undefined;

  constructor(options: TsneJsOptions = {}) {
    this.maxExact = options.maxExact ?? TSNEJS_DEFAULTS.maxExact;
    this.iterations = options.iterations ?? TSNEJS_DEFAULTS.iterations;
    this.perplexity = options.perplexity ?? TSNEJS_DEFAULTS.perplexity;
    this.neighbours = options.neighbours ?? TSNEJS_DEFAULTS.neighbours;
    this.learningRate = options.learningRate;
    if (!Number.isInteger(this.maxExact) || this.maxExact < 2) throw new UserError(`maxExact must be an integer ≥ 2; got ${this.maxExact}`);
    if (!Number.isInteger(this.iterations) || this.iterations < 1) throw new UserError(`iterations must be a positive integer; got ${this.iterations}`);
    if (this.learningRate !== undefined && !(this.learningRate > 0)) throw new UserError(`learningRate must be positive; got ${this.learningRate}`);
    if (!(this.perplexity > 0)) throw new UserError(`perplexity must be positive; got ${this.perplexity}`);
  }

  async project(data: Float32Array, n: number, d: number, opts: ProjectOptions): Promise<ProjectionResult> {
    if (data.length < n * d) throw new UserError(`data has ${data.length} values, expected ${n}×${d}`);
    throwIfAborted(opts.signal);
    const method = 'tsne-js (exact)';
    if (n <= 1) return { coords: new Float32Array(n * 2), method };
    const iterations = opts.iterations ?? this.iterations;
    const sampling = n > this.maxExact;
    const indices = sampling ? sampleIndices(n, this.maxExact, opts.random) : undefined;
    const m = indices ? indices.length : n;
    let input = data.slice(0, n * d); // a copy of just these rows goes to the worker
    if (indices) {
      input = new Float32Array(m * d);
      for (let r = 0; r < m; r++) input.set(data.subarray(indices[r] * d, indices[r] * d + d), r * d);
    }
    // The perplexity calibration needs more neighbours than the perplexity; cap it for tiny inputs.
    const perplexity = Math.max(1, Math.min(opts.perplexity ?? this.perplexity, (m - 1) / 3));
    const seed = Math.floor(opts.random() * 4294967296);
    opts.onProgress?.({ step: 'tsne', done: 0, total: iterations, message: sampling ? `t-SNE on ${m.toLocaleString('en-US')} sampled of ${n.toLocaleString('en-US')} points` : `t-SNE on ${n.toLocaleString('en-US')} points` });
    const learningRate = this.learningRate ?? autoLearningRate(m);
    const run = await runTsneJs({ data: input, n: m, d, perplexity, iterations, learningRate, seed, indices }, opts);
    throwIfAborted(opts.signal);
    if (!indices) return { coords: run.coords, method, kl: run.kl };
    const k = Math.min(this.neighbours, m);
    const coords = await placeFromSample(data, n, d, indices, run.coords, k, opts.random, opts);
    const note = `t-SNE on ${m.toLocaleString('en-US')} sampled points; ${(n - m).toLocaleString('en-US')} placed from their ${k} nearest sampled neighbours`;
    return { coords, method, note, kl: run.kl };
  }
}

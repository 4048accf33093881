/**
 * Barnes-Hut t-SNE projector: exact kNN → perplexity-calibrated sparse P → Barnes-Hut gradient descent.
 * O(N log N) per iteration after an O(N² d) (blocked) neighbour search.
 */
import type { ProjectOptions, ProjectionResult, Projector } from '../projection.js';
import { gaussian, sampleIndices } from '../random.js';
import { throwIfAborted, yieldToEventLoop, type Random } from '../types.js';
import { jointProbabilities } from './affinities.js';
import { BarnesHutOptimizer, DEFAULT_OPTIMIZE } from './bhtsne.js';
import { approxKnn, exactKnn } from './knn.js';
import { defaultThreads } from './parallel.js';
import { pca, pcaTransform } from './pca.js';

export { approxKnn, exactKnn, type ApproxKnnOptions, type KnnResult } from './knn.js';
export { jointProbabilities, conditionalAffinities, symmetrize, type CsrMatrix } from './affinities.js';
export { BarnesHutOptimizer, autoLearningRate, type OptimizeOptions } from './bhtsne.js';
export { exactKl, exactJointProbabilities } from './kl.js';
export { pca, pcaTransform } from './pca.js';

export interface BarnesHutOptions {
  /** Perplexity of the input affinities (default 30; capped to what n allows). */
  perplexity?: number;
  /**
   * Total gradient-descent iterations including early exaggeration (default 750, openTSNE's 250 + 500, and 900
   * from 20,000 points: see defaultIterations).
   */
  iterations?: number;
  /** Barnes-Hut accuracy: a cell is summarised when width / distance < θ (default 0.5; 0 = exact). */
  theta?: number;
  /** 'pca' (default): first two principal components scaled to std 1e-4; 'random': Gaussian with std 1e-4. */
  init?: 'pca' | 'random';
  /** Default max(N / earlyExaggeration, 200). */
  learningRate?: number;
  /** Default 12. */
  earlyExaggeration?: number;
  /** Default 250 (capped to the number of iterations). */
  earlyExaggerationIterations?: number;
  /** Stream a frame every this many iterations (default: 10 below 5,000 points, else 25). */
  frameEvery?: number;
  /**
   * Neighbour search: 'exact' (blocked brute force, O(N²d)), 'approx' (random-projection forest + neighbour-of-
   * neighbour refinement; ~94% recall on Fashion-MNIST at 70,000 points), or 'auto' (default): exact up to 5,000 points, approximate above.
   */
  knn?: 'auto' | 'exact' | 'approx';
  /**
   * Threads for the gradient (tree build overlapped with the attraction, then the repulsion), main thread included
   * (default: 1 below 5,000 points, else the number of cores up to 4). The result is identical for any number of threads.
   */
  threads?: number;
}

/** Above this many points 'auto' uses the approximate neighbour search. */
export const EXACT_KNN_MAX_N = 5000;

const INIT_STD = 1e-4;

/** Random Gaussian initialisation with standard deviation 1e-4. */
export function randomInit(n: number, random: Random): Float64Array {
  const y = new Float64Array(2 * n);
  for (let i = 0; i < 2 * n; i++) y[i] = gaussian(random) * INIT_STD;
  return y;
}

/**
 * PCA initialisation: the first two principal components, both scaled by the same factor so that the first has
 * standard deviation 1e-4 (as openTSNE does). Wide data (d > 100) estimates the components on ≤ 5,000 sampled rows.
 */
export function pcaInit(data: Float32Array, n: number, d: number, random: Random): Float64Array {
  if (n < 2 || d < 2) return randomInit(n, random);
  const rows = d > 100 && n > 5000 ? sampleIndices(n, 5000, random) : undefined;
  const res = pca(data, n, d, 2, rows);
  const y = pcaTransform(data, n, d, res);
  let s = 0;
  for (let i = 0; i < n; i++) s += y[2 * i] * y[2 * i];
  const std = Math.sqrt(s / n);
  if (!(std > 0) || !Number.isFinite(std)) return randomInit(n, random);
  const f = INIT_STD / std;
  for (let i = 0; i < 2 * n; i++) y[i] *= f;
  return y;
}

/** Large sets take longer to settle after early exaggeration: at 70,000 Fashion-MNIST points, 900 iterations
 * kept 0.386 of each point's 10 input neighbours against 0.374 at 750 (sklearn at 1,000: 0.396), for ~13 s more.
 * Below 20,000 points 750 already matched sklearn (0.475 at 10,000). */
export function defaultIterations(n: number): number {
  return n >= LARGE_N ? 900 : DEFAULT_OPTIMIZE.iterations;
}
const LARGE_N = 20_000;

export class BarnesHutProjector implements Projector {
  readonly name = 'barnes-hut t-SNE';
  private readonly options: BarnesHutOptions;

  constructor(options: BarnesHutOptions = {}) {
    this.options = options;
  }

  /** Per-call `perplexity` / `iterations` in `opts` take precedence over the constructor's. */
  async project(data: Float32Array, n: number, d: number, opts: ProjectOptions): Promise<ProjectionResult> {
    const o = this.options;
    const perplexity = opts.perplexity ?? o.perplexity ?? 30;
    const iterations = Math.max(0, Math.floor(opts.iterations ?? o.iterations ?? defaultIterations(n)));
    const theta = o.theta ?? DEFAULT_OPTIMIZE.theta;
    if (!(perplexity > 0)) throw new Error(`perplexity must be positive, got ${perplexity}`);
    if (!(theta >= 0)) throw new Error(`theta must be ≥ 0, got ${theta}`);
    if (data.length < n * d) throw new Error(`data has ${data.length} values, expected ${n}×${d}`);
    const { signal, onProgress, onFrame, random } = opts;
    const report = (done: number, message?: string): void => onProgress?.({ step: 'tsne', done, total: iterations, message });
    throwIfAborted(signal);
    if (n < 2) {
      return { coords: new Float32Array(2 * n), method: this.name };
    }

    // 1. Nearest neighbours.
    const k = Math.min(n - 1, Math.max(1, Math.floor(3 * perplexity)));
    report(0, `finding ${k} nearest neighbours of ${n.toLocaleString('en-US')} points`);
    const mode = o.knn ?? 'auto';
    const approx = mode === 'approx' || (mode === 'auto' && n > EXACT_KNN_MAX_N);
    const knnOpts = {
      signal,
      onProgress: (done: number, total: number) =>
        report(0, `finding ${k} nearest neighbours${approx ? ' (approximate)' : ''}: ${Math.round((100 * done) / total)}%`),
    };
    const knn = approx
      ? await approxKnn(data, n, d, k, random, knnOpts)
      : await exactKnn(data, n, d, k, knnOpts);
    throwIfAborted(signal);

    // 2. Affinities.
    report(0, `computing affinities (perplexity ${perplexity})`);
    await yieldToEventLoop();
    const P = jointProbabilities(knn, perplexity);
    throwIfAborted(signal);

    // 3. Initialisation and optimisation.
    const y = (o.init ?? 'pca') === 'pca' ? pcaInit(data, n, d, random) : randomInit(n, random);
    const optimizer = new BarnesHutOptimizer(P, y, {
      iterations,
      theta,
      learningRate: o.learningRate,
      earlyExaggeration: o.earlyExaggeration ?? DEFAULT_OPTIMIZE.earlyExaggeration,
      earlyExaggerationIterations: Math.min(iterations, o.earlyExaggerationIterations ?? DEFAULT_OPTIMIZE.earlyExaggerationIterations),
      threads: o.threads ?? defaultThreads(n),
    });
    let kl: number;
    try {
      const frameEvery = Math.max(1, o.frameEvery ?? (n < 5000 ? 10 : 25));
      const emit = (klNow?: number): void => {
        onFrame?.({ iteration: optimizer.iteration, totalIterations: iterations, coords: Float32Array.from(y), kl: klNow });
      };
      report(0, 'optimising');
      emit();
      let lastYield = performance.now();
      while (!optimizer.done) {
        const klBefore = optimizer.kl;
        await optimizer.step();
        const it = optimizer.iteration;
        const klNow = optimizer.kl !== klBefore ? optimizer.kl : undefined;
        if (it % frameEvery === 0 && it < iterations) emit(klNow);
        if (it % 10 === 0 || performance.now() - lastYield > 30) {
          report(it, optimizer.kl !== undefined ? `KL ${optimizer.kl.toFixed(4)}` : undefined);
          await yieldToEventLoop();
          lastYield = performance.now();
          throwIfAborted(signal);
        }
      }
      kl = await optimizer.computeKl();
      emit(kl);
    } finally {
      await optimizer.close();
    }
    report(iterations, `KL ${kl.toFixed(4)}`);
    return { coords: Float32Array.from(y), method: this.name, kl };
  }
}

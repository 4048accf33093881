import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { gaussian, seededRandom } from '../../src/core/random.js';
import { CancelledError } from '../../src/core/types.js';
import type { ProjectionFrame } from '../../src/core/projection.js';
import {
  BarnesHutOptimizer,
  BarnesHutProjector,
  approxKnn,
  conditionalAffinities,
  exactJointProbabilities,
  exactKl,
  exactKnn,
  jointProbabilities,
} from '../../src/core/tsne/index.js';
import { QuadTree, repulsiveForces, traversalStack } from '../../src/core/tsne/quadtree.js';

/** n points in d dims around `clusters` centres (centre coordinates ~ N(0, spread²), unit noise); label = i % clusters. */
function blobs(n: number, d: number, clusters: number, seed: number, spread = 5): { data: Float32Array; labels: Int32Array } {
  const r = seededRandom(seed);
  const centres = Array.from({ length: clusters * d }, () => gaussian(r) * spread);
  const data = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % clusters;
    for (let j = 0; j < d; j++) data[i * d + j] = centres[labels[i] * d + j] + gaussian(r);
  }
  return { data, labels };
}

function naiveKnn(data: Float32Array, n: number, d: number, k: number): { idx: number[][]; dist: number[][] } {
  const idx: number[][] = [];
  const dist: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let t = 0; t < d; t++) s += (data[i * d + t] - data[j * d + t]) ** 2;
      row.push([s, j]);
    }
    row.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    idx.push(row.slice(0, k).map((x) => x[1]));
    dist.push(row.slice(0, k).map((x) => x[0]));
  }
  return { idx, dist };
}

/** Fraction of each point's m nearest 2-D neighbours that share its label, averaged over points. */
function neighbourPurity(coords: Float32Array, labels: Int32Array, m: number): number {
  const n = labels.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      if (j !== i) row.push([(coords[2 * i] - coords[2 * j]) ** 2 + (coords[2 * i + 1] - coords[2 * j + 1]) ** 2, j]);
    }
    row.sort((a, b) => a[0] - b[0]);
    let same = 0;
    for (let t = 0; t < m; t++) if (labels[row[t][1]] === labels[i]) same++;
    total += same / m;
  }
  return total / n;
}

describe('exact kNN', () => {
  it('matches a naive O(n²) search', async () => {
    const n = 301;
    const d = 7;
    const k = 12;
    const r = seededRandom(7);
    const data = new Float32Array(n * d).map(() => gaussian(r));
    const got = await exactKnn(data, n, d, k);
    const ref = naiveKnn(data, n, d, k);
    for (let i = 0; i < n; i++) {
      expect(Array.from(got.indices.subarray(i * k, (i + 1) * k))).toEqual(ref.idx[i]);
      for (let t = 0; t < k; t++) expect(got.distances[i * k + t]).toBeCloseTo(ref.dist[i][t], 5);
    }
  });

  it('handles k = n − 1, duplicate points and rejects k ≥ n', async () => {
    const d = 3;
    const data = new Float32Array([0, 0, 0, 1, 1, 1, 0, 0, 0, 5, 5, 5, 1, 1, 1]);
    const n = 5;
    const got = await exactKnn(data, n, d, n - 1);
    const ref = naiveKnn(data, n, d, n - 1);
    for (let i = 0; i < n; i++) {
      // Ties may come in any order; compare distances, and the set of indices.
      expect(Array.from(got.distances.subarray(i * 4, i * 4 + 4))).toEqual(ref.dist[i]);
      expect(Array.from(got.indices.subarray(i * 4, i * 4 + 4)).sort()).toEqual([...ref.idx[i]].sort());
      expect(Array.from(got.indices.subarray(i * 4, i * 4 + 4))).not.toContain(i);
    }
    await expect(exactKnn(data, n, d, n)).rejects.toThrow();
  });
});

describe('approximate kNN', () => {
  it('finds ≥ 90% of the exact neighbours, deterministically, with consistent rows', async () => {
    const n = 4000;
    const d = 20;
    const k = 30;
    const { data } = blobs(n, d, 8, 21, 2);
    const exact = await exactKnn(data, n, d, k);
    const a = await approxKnn(data, n, d, k, seededRandom(4), { leafSize: 80 });
    const b = await approxKnn(data, n, d, k, seededRandom(4), { leafSize: 80 });
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    let hits = 0;
    let badRows = 0;
    let maxDistErr = 0;
    let unsorted = 0;
    for (let i = 0; i < n; i++) {
      const row = a.indices.subarray(i * k, (i + 1) * k);
      const truth = new Set(exact.indices.subarray(i * k, (i + 1) * k));
      if (new Set(row).size !== k || row.includes(i)) badRows++;
      for (let t = 0; t < k; t++) {
        if (truth.has(row[t])) hits++;
        const j = row[t];
        let s2 = 0;
        for (let u = 0; u < d; u++) s2 += (data[i * d + u] - data[j * d + u]) ** 2;
        maxDistErr = Math.max(maxDistErr, Math.abs(a.distances[i * k + t] - s2) / (1 + s2));
        if (t > 0 && a.distances[i * k + t] < a.distances[i * k + t - 1]) unsorted++;
      }
    }
    expect(badRows).toBe(0);
    expect(unsorted).toBe(0);
    expect(maxDistErr).toBeLessThan(1e-9);
    const recall = hits / (n * k);
    console.log(`approximate kNN recall ${recall.toFixed(4)}`);
    expect(recall).toBeGreaterThanOrEqual(0.9);
    // Without refinement and with one tree the recall is clearly lower: the refinement is doing work.
    const rough = await approxKnn(data, n, d, k, seededRandom(4), { trees: 1, refinements: 0, leafSize: 80 });
    let roughHits = 0;
    for (let i = 0; i < n; i++) {
      const truth = new Set(exact.indices.subarray(i * k, (i + 1) * k));
      for (let t = 0; t < k; t++) if (truth.has(rough.indices[i * k + t])) roughHits++;
    }
    expect(roughHits / (n * k)).toBeLessThan(recall);
  });
});

describe('affinities', () => {
  it('calibrates each row to the perplexity and gives a symmetric P summing to 1', async () => {
    const n = 200;
    const d = 5;
    const { data } = blobs(n, d, 4, 3);
    const knn = await exactKnn(data, n, d, 60);
    const { p } = conditionalAffinities(knn, 20);
    for (let i = 0; i < n; i++) {
      let h = 0;
      for (let t = 0; t < 60; t++) {
        const v = p[i * 60 + t];
        if (v > 0) h -= v * Math.log(v);
      }
      expect(Math.exp(h)).toBeCloseTo(20, 2);
    }
    const P = jointProbabilities(knn, 20);
    const dense = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) {
        if (e > P.rowPtr[i]) expect(P.cols[e]).toBeGreaterThan(P.cols[e - 1]);
        dense[i * n + P.cols[e]] = P.values[e];
      }
    }
    let sum = 0;
    let asym = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += dense[i * n + i];
      for (let j = 0; j < n; j++) {
        sum += dense[i * n + j];
        asym = Math.max(asym, Math.abs(dense[i * n + j] - dense[j * n + i]));
      }
    }
    expect(diag).toBe(0);
    expect(asym).toBeLessThan(1e-15);
    expect(sum).toBeCloseTo(1, 12);
    // Every kNN pair is present.
    let pairs = 0;
    for (let i = 0; i < n; i++) for (let t = 0; t < 60; t++) if (dense[i * n + knn.indices[i * 60 + t]] > 0) pairs++;
    expect(pairs).toBe(n * 60);
  });
});

describe('Barnes-Hut repulsion', () => {
  it('is exact at θ = 0 and close at θ = 0.5', () => {
    const n = 700;
    const r = seededRandom(11);
    const y = new Float64Array(2 * n).map(() => gaussian(r) * 10);
    // Some coincident points to exercise the depth limit.
    y[2] = y[0];
    y[3] = y[1];
    const ref = new Float64Array(2 * n);
    let zRef = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const dx = y[2 * i] - y[2 * j];
        const dy = y[2 * i + 1] - y[2 * j + 1];
        const w = 1 / (1 + dx * dx + dy * dy);
        zRef += w;
        ref[2 * i] += w * w * dx;
        ref[2 * i + 1] += w * w * dy;
      }
    }
    const tree = new QuadTree(n);
    tree.build(y, n);
    const rep = new Float64Array(2 * n);
    const zs = new Float64Array(n);
    const z0 = repulsiveForces(tree, n, 0, rep, zs, traversalStack());
    expect(z0).toBeCloseTo(zRef, 8);
    for (let c = 0; c < 2 * n; c++) expect(rep[c]).toBeCloseTo(ref[c], 10);
    const z5 = repulsiveForces(tree, n, 0.5, rep, zs, traversalStack());
    expect(Math.abs(z5 - zRef) / zRef).toBeLessThan(0.01);
    let err = 0;
    let norm = 0;
    for (let c = 0; c < 2 * n; c++) {
      err += (rep[c] - ref[c]) ** 2;
      norm += ref[c] ** 2;
    }
    expect(Math.sqrt(err / norm)).toBeLessThan(0.02);
  });
});

describe('BarnesHutProjector', () => {
  const N = 500;
  const D = 10;
  const { data, labels } = blobs(N, D, 5, 1);

  it('reaches a KL divergence within 5% of tsne-js (exact t-SNE) at N = 500', async () => {
    const perplexity = 30;
    const ours = await new BarnesHutProjector({ perplexity }).project(data, N, D, { random: seededRandom(2) });

    // tsne-js draws its initialisation from Math.random: make it seeded for the duration of the run.
    const require = createRequire(import.meta.url);
    const TSNE = require('tsne-js') as new (cfg: object) => {
      init(o: { data: number[][]; type: string }): void;
      run(): [number, number];
      getOutput(): number[][];
    };
    const rows: number[][] = [];
    for (let i = 0; i < N; i++) rows.push(Array.from(data.subarray(i * D, (i + 1) * D)));
    const saved = Math.random;
    Math.random = seededRandom(3);
    let theirs: number[][];
    try {
      const model = new TSNE({ perplexity, nIter: 1000 });
      model.init({ data: rows, type: 'dense' });
      model.run();
      theirs = model.getOutput();
    } finally {
      Math.random = saved;
    }

    const P = await exactJointProbabilities(data, N, D, perplexity);
    const klOurs = exactKl(P, ours.coords);
    const klTheirs = exactKl(P, theirs.flat());
    expect(Number.isFinite(klOurs)).toBe(true);
    expect(klOurs).toBeLessThanOrEqual(1.05 * klTheirs);
    // The optimiser's own (BH-Z, kNN-P) estimate is close to the exact value.
    expect(Math.abs(ours.kl! - klOurs) / klOurs).toBeLessThan(0.1);
    expect(ours.method).toBe('barnes-hut t-SNE');
    console.log(`exact KL: ours ${klOurs.toFixed(4)}, tsne-js ${klTheirs.toFixed(4)}; ours (BH estimate) ${ours.kl!.toFixed(4)}`);
  });

  it('θ = 0.5 ends within 5% of the exact-gradient (θ = 0) optimum', async () => {
    const P = await exactJointProbabilities(data, N, D, 30);
    const bh = await new BarnesHutProjector({ iterations: 500 }).project(data, N, D, { random: seededRandom(2) });
    const exact = await new BarnesHutProjector({ iterations: 500, theta: 0 }).project(data, N, D, { random: seededRandom(2) });
    expect(exactKl(P, bh.coords)).toBeLessThanOrEqual(1.05 * exactKl(P, exact.coords));
  });

  it('keeps blobs together: ≥ 90% of 10 nearest 2-D neighbours share the blob', async () => {
    const res = await new BarnesHutProjector({ iterations: 500, init: 'random', knn: 'approx' }).project(data, N, D, { random: seededRandom(5) });
    expect(neighbourPurity(res.coords, labels, 10)).toBeGreaterThanOrEqual(0.9);
  });

  it('is deterministic for a seed and matches stored golden values', async () => {
    const n = 150;
    const small = blobs(n, 6, 3, 9);
    const run = (): Promise<{ coords: Float32Array; kl?: number }> =>
      new BarnesHutProjector({ iterations: 300, perplexity: 10, init: 'random' }).project(small.data, n, 6, { random: seededRandom(42) });
    const a = await run();
    const b = await run();
    expect(Array.from(a.coords)).toEqual(Array.from(b.coords));
    const pcaRun = await new BarnesHutProjector({ iterations: 300, perplexity: 10 }).project(small.data, n, 6, { random: seededRandom(42) });
    const golden = [a.coords[0], a.coords[1], a.coords[101], a.coords[299], pcaRun.coords[0], pcaRun.coords[1], pcaRun.coords[299]];
    console.log('golden', golden.map((v) => v.toPrecision(12)).join(', '));
    const stored = GOLDEN;
    expect(golden.length).toBe(stored.length);
    for (let t = 0; t < stored.length; t++) expect(Math.abs(golden[t] - stored[t])).toBeLessThan(1e-6);
  });

  it('gives bit-identical results with worker threads', async () => {
    const run = (threads: number): Promise<{ coords: Float32Array; kl?: number }> =>
      new BarnesHutProjector({ iterations: 120, threads }).project(data, N, D, { random: seededRandom(8) });
    const one = await run(1);
    const three = await run(3);
    expect(Array.from(three.coords)).toEqual(Array.from(one.coords));
    expect(three.kl).toBe(one.kl);
  });

  it('renumbering the points internally (reorderEvery) changes neither the point order nor the quality', async () => {
    const P = jointProbabilities(await exactKnn(data, N, D, 90), 30);
    const run = async (reorderEvery: number, threads: number): Promise<{ y: Float64Array; kl: number }> => {
      const r = seededRandom(6);
      const y = new Float64Array(2 * N).map(() => gaussian(r) * 1e-4);
      const opt = new BarnesHutOptimizer(P, y, { iterations: 400, reorderEvery, threads });
      while (!opt.done) await opt.step();
      const kl = await opt.computeKl();
      await opt.close();
      return { y, kl };
    };
    const plain = await run(0, 1);
    const reordered = await run(50, 1);
    const reordered2 = await run(50, 2);
    expect(Array.from(reordered2.y)).toEqual(Array.from(reordered.y));
    expect(Math.abs(reordered.kl - plain.kl) / plain.kl).toBeLessThan(0.03);
    const coords = Float32Array.from(reordered.y);
    expect(neighbourPurity(coords, labels, 10)).toBeGreaterThanOrEqual(0.9);
  });

  it('streams frames and progress, and throws CancelledError on abort', async () => {
    const frames: ProjectionFrame[] = [];
    const steps = new Set<string>();
    let lastDone = -1;
    const full = await new BarnesHutProjector({ iterations: 100 }).project(data, N, D, {
      random: seededRandom(1),
      onFrame: (f) => frames.push(f),
      onProgress: (p) => {
        steps.add(p.step);
        expect(p.done).toBeGreaterThanOrEqual(lastDone);
        lastDone = p.done;
      },
    });
    expect(steps).toEqual(new Set(['tsne']));
    expect(lastDone).toBe(100);
    expect(frames.length).toBeGreaterThanOrEqual(10);
    expect(frames[frames.length - 1].iteration).toBe(100);
    expect(frames.some((f) => f.kl !== undefined)).toBe(true);
    expect(Array.from(frames[frames.length - 1].coords)).toEqual(Array.from(full.coords));

    const controller = new AbortController();
    let seen = 0;
    const p = new BarnesHutProjector({ iterations: 1000 }).project(data, N, D, {
      random: seededRandom(1),
      signal: controller.signal,
      onFrame: (f) => {
        seen = f.iteration;
        if (f.iteration >= 20) controller.abort();
      },
    });
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBeLessThan(100);

    const already = new AbortController();
    already.abort();
    await expect(new BarnesHutProjector().project(data, N, D, { random: seededRandom(1), signal: already.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
  });

  it('handles tiny inputs', async () => {
    const r = seededRandom(1);
    for (const n of [0, 1, 2, 5]) {
      const x = new Float32Array(n * 3).map(() => gaussian(r));
      const res = await new BarnesHutProjector({ iterations: 50 }).project(x, n, 3, { random: seededRandom(1) });
      expect(res.coords.length).toBe(2 * n);
      for (const v of res.coords) expect(Number.isFinite(v)).toBe(true);
    }
  });
});

/**
 * Coordinates from the golden-value test (random init: coords[0], [1], [101], [299]; PCA init: [0], [1], [299]).
 * Regenerated deliberately when the optimiser started renumbering points internally (reorderEvery 50) and keeping
 * P in single precision for the attraction: both change the floating-point summation, not the algorithm.
 */
const GOLDEN: number[] = [-4.45050668716, -19.1643714905, 11.9599285126, 10.9583969116, -7.07209014893, 8.45507717133, 9.03222465515];

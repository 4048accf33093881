import { describe, expect, it } from 'vitest';
import { assignToCentroids, meanSilhouettes, runKMeans, suggestK } from '../../src/core/kmeans.js';
import { nmi, purity } from '../../src/core/metrics.js';
import { CancelledError, UserError, type Progress } from '../../src/core/types.js';
import { makeBlobs } from '../fixtures/blobs.js';

describe('runKMeans', () => {
  const n = 600;
  const d = 8;
  const blobs = makeBlobs({ n, d, centers: 4, spread: 0.5, seed: 1 });

  it('recovers well-separated blobs, with centroids at the blob centres', async () => {
    const progress: Progress[] = [];
    const r = await runKMeans(blobs.data, n, d, 4, { seed: 1, onProgress: (p) => progress.push(p) });
    expect(purity(r.assignments, blobs.labels)).toBe(1);
    expect(nmi(r.assignments, blobs.labels)).toBeCloseTo(1, 10);
    expect(r.sizes).toEqual([150, 150, 150, 150]);
    expect(r.k).toBe(4);
    expect(r.centroids).toHaveLength(4 * d);
    for (let c = 0; c < 4; c++) {
      const dists = [0, 1, 2, 3].map((t) => Math.hypot(...Array.from({ length: d }, (_, j) => r.centroids[t * d + j] - blobs.centres[c * d + j])));
      expect(Math.min(...dists)).toBeLessThan(0.2);
    }
    // inertia ≈ n·d·spread² for exact recovery
    expect(r.inertia / (n * d * 0.25)).toBeGreaterThan(0.85);
    expect(r.inertia / (n * d * 0.25)).toBeLessThan(1.1);
    expect(progress.length).toBe(r.iterations);
    expect(progress.every((p) => p.step === 'kmeans')).toBe(true);
    expect(progress.map((p) => p.done)).toEqual(Array.from({ length: r.iterations }, (_, i) => i + 1));
  });

  it('golden result under a fixed seed on overlapping blobs, clusters numbered by size', async () => {
    const b = makeBlobs({ n: 500, d: 4, centers: 3, spread: 4, seed: 7 });
    const r = await runKMeans(b.data, 500, 4, 6, { seed: 7 });
    expect(r.sizes).toEqual([134, 101, 99, 59, 57, 50]);
    expect(r.iterations).toBe(13);
    expect(r.inertia).toBeCloseTo(24621.3143, 2);
    expect(Array.from(r.assignments.slice(0, 12))).toEqual([4, 2, 2, 3, 1, 2, 3, 0, 2, 4, 2, 2]);
  });

  it('is deterministic, numbers clusters by size and agrees with assignToCentroids', async () => {
    const b = makeBlobs({ n: 700, d: 5, centers: 4, spread: 3, seed: 9 });
    const a = await runKMeans(b.data, 700, 5, 7, { seed: 3 });
    const again = await runKMeans(b.data, 700, 5, 7, { seed: 3 });
    expect(again.assignments).toEqual(a.assignments);
    expect(again.centroids).toEqual(a.centroids);
    expect(again.inertia).toBe(a.inertia);
    for (let c = 1; c < a.sizes.length; c++) expect(a.sizes[c]).toBeLessThanOrEqual(a.sizes[c - 1]);
    const counts = new Array<number>(7).fill(0);
    for (const x of a.assignments) counts[x]++;
    expect(counts).toEqual(a.sizes);
    expect(assignToCentroids(b.data, 700, 5, a.centroids, 7)).toEqual(a.assignments);
    // inertia is the sum of squared distances to the assigned centroid
    let inertia = 0;
    for (let i = 0; i < 700; i++) for (let j = 0; j < 5; j++) inertia += (b.data[i * 5 + j] - a.centroids[a.assignments[i] * 5 + j]) ** 2;
    expect(a.inertia).toBeCloseTo(inertia, 6);
  });

  it('assignToCentroids picks the nearest centroid, ties to the lower id', () => {
    const centroids = Float32Array.from([0, 0, 10, 0, 0, 10]);
    const pts = Float32Array.from([1, 1, 9, 0, 0, 7, 5, 0]);
    expect(Array.from(assignToCentroids(pts, 4, 2, centroids, 3))).toEqual([0, 1, 2, 0]);
  });

  it('stops with CancelledError when aborted, and rejects bad k', async () => {
    const pre = new AbortController();
    pre.abort();
    await expect(runKMeans(blobs.data, n, d, 4, { seed: 1, signal: pre.signal })).rejects.toBeInstanceOf(CancelledError);
    const ac = new AbortController();
    let ticks = 0;
    const run = runKMeans(blobs.data, n, d, 4, {
      seed: 1,
      signal: ac.signal,
      onProgress: () => {
        ticks++;
        ac.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(ticks).toBe(1);
    await expect(runKMeans(blobs.data, n, d, 0, { seed: 1 })).rejects.toBeInstanceOf(UserError);
    await expect(runKMeans(blobs.data, n, d, n + 1, { seed: 1 })).rejects.toBeInstanceOf(UserError);
  });
});

describe('silhouette and suggestK', () => {
  it('mean silhouette on hand cases (a singleton scores 0)', () => {
    const pts = Float32Array.from([0, 1, 10, 11]);
    const [s1, s2] = meanSilhouettes(pts, 4, 1, [
      { labels: Int32Array.from([0, 0, 1, 1]), k: 2 },
      { labels: Int32Array.from([1, 1, 1, 0]), k: 2 },
    ]);
    // points 0,3: (10.5-1)/10.5; points 1,2: (9.5-1)/9.5
    expect(s1).toBeCloseTo((9.5 / 10.5 + 8.5 / 9.5) / 2, 12);
    // labels [1,1,1,0] on 0,1,10,11: point 0: a=5.5, b=11; point 1: a=5, b=10; point 2: a=9.5, b=1; point 3 alone: 0
    expect(s2).toBeCloseTo((5.5 / 11 + 5 / 10 + (1 - 9.5) / 9.5 + 0) / 4, 12);
  });

  it('finds k=5 on five separated blobs, on all rows and on a sample', async () => {
    const b = makeBlobs({ n: 1000, d: 8, centers: 5, spread: 0.7, seed: 2 });
    const progress: Progress[] = [];
    const s = await suggestK(b.data, 1000, 8, { seed: 1, onProgress: (p) => progress.push(p) });
    expect(s.k).toBe(5);
    expect(s.scores.map((x) => x.k)).toEqual(Array.from({ length: 19 }, (_, i) => i + 2));
    expect(s.scores[3].silhouette).toBeCloseTo(0.8617, 3); // golden, k=5
    expect(s.reason).toBe('k=5: highest mean silhouette (0.86) over k=2..20 on all 1,000 images');
    expect(progress.every((p) => p.step === 'suggest-k')).toBe(true);
    expect(progress.at(-1)!.done).toBe(progress.at(-1)!.total);

    const sampled = await suggestK(b.data, 1000, 8, { seed: 1, sampleSize: 300, min: 3, max: 9 });
    expect(sampled.k).toBe(5);
    expect(sampled.scores).toHaveLength(7);
    expect(sampled.reason).toMatch(/^k=5: highest mean silhouette \(0\.\d\d\) over k=3\.\.9 on a 300-image sample$/);
  });

  it('finds the true k for other blob counts too (seed-free property)', async () => {
    for (const centers of [3, 8]) {
      const b = makeBlobs({ n: 400, d: 6, centers, spread: 0.3, seed: 20 + centers, box: 20 });
      const s = await suggestK(b.data, 400, 6, { seed: 5, max: 12 });
      expect(s.k).toBe(centers);
    }
  });

  it('aborts', async () => {
    const b = makeBlobs({ n: 300, d: 4, centers: 3, spread: 1, seed: 2 });
    const ac = new AbortController();
    const run = suggestK(b.data, 300, 4, { seed: 1, signal: ac.signal, onProgress: (p) => p.done >= 2 && ac.abort() });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
  });
});

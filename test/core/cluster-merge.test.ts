import { describe, expect, it } from 'vitest';
import { defaultOver, graphModularity, mergeAlongGraph, runMergeClustering } from '../../src/core/cluster-merge.js';
import { runKMeans } from '../../src/core/kmeans.js';
import { nmi, purity } from '../../src/core/metrics.js';
import { gaussian, seededRandom } from '../../src/core/random.js';
import { CancelledError, UserError } from '../../src/core/types.js';

/** Two concentric noisy rings in 2-D (radius 1 and 4): k-means cuts them with a straight line, the graph does not. */
function rings(n: number, seed: number): { data: Float32Array; labels: Int32Array } {
  const random = seededRandom(seed);
  const data = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const ring = i % 2;
    const r = (ring === 0 ? 1 : 4) + 0.08 * gaussian(random);
    const a = 2 * Math.PI * random();
    data[2 * i] = r * Math.cos(a);
    data[2 * i + 1] = r * Math.sin(a);
    labels[i] = ring;
  }
  return { data, labels };
}

describe('runMergeClustering', () => {
  it('separates two concentric rings that k-means cannot', async () => {
    const n = 800;
    const { data, labels } = rings(n, 3);
    const km = await runKMeans(data, n, 2, 2, { seed: 1 });
    expect(nmi(km.assignments, labels)).toBeLessThan(0.2);
    const r = await runMergeClustering(data, n, 2, 2, { seed: 1 });
    expect(purity(r.assignments, labels)).toBe(1);
    expect(nmi(r.assignments, labels)).toBeCloseTo(1, 10);
    expect(r.over).toBe(50);
    expect(r.sizes).toEqual([400, 400]);
    expect(r.modularity).toBeGreaterThan(0.45);
  });

  it('is deterministic, numbers clusters by size and reports the sizes', async () => {
    const n = 600;
    const random = seededRandom(5);
    const data = Float32Array.from({ length: 2 * n }, () => gaussian(random) * 3);
    const a = await runMergeClustering(data, n, 2, 6, { seed: 2 });
    const b = await runMergeClustering(data, n, 2, 6, { seed: 2 });
    expect(b.assignments).toEqual(a.assignments);
    const counts = new Array<number>(6).fill(0);
    for (const c of a.assignments) counts[c]++;
    expect(counts).toEqual(a.sizes);
    for (let c = 1; c < 6; c++) expect(a.sizes[c]).toBeLessThanOrEqual(a.sizes[c - 1]);
    expect(a.sizes.every((s) => s > 0)).toBe(true);
  });

  it('rejects a bad k and honours the abort signal', async () => {
    const { data } = rings(100, 1);
    await expect(runMergeClustering(data, 100, 2, 0, { seed: 1 })).rejects.toThrow(UserError);
    await expect(runMergeClustering(data, 100, 2, 101, { seed: 1 })).rejects.toThrow(UserError);
    const ac = new AbortController();
    ac.abort();
    await expect(runMergeClustering(data, 100, 2, 3, { seed: 1, signal: ac.signal })).rejects.toThrow(CancelledError);
  });

  it('over-clusters max(50, 3k), at most max(k, 1000) and n', () => {
    expect(defaultOver(10, 70_000)).toBe(50);
    expect(defaultOver(50, 70_000)).toBe(150);
    expect(defaultOver(500, 70_000)).toBe(1000);
    expect(defaultOver(2000, 70_000)).toBe(2000);
    expect(defaultOver(10, 30)).toBe(30);
  });
});

describe('mergeAlongGraph', () => {
  it('merges the most connected groups first, normalised by size', () => {
    // 4 groups of 2 points; neighbour lists (1 neighbour each) join groups 0–1 and 2–3 only
    const labels = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
    const nbr = Int32Array.from([2, 3, 0, 1, 6, 7, 4, 5]);
    const merged = mergeAlongGraph(labels, 4, nbr, 1, 2);
    expect(merged[0]).toBe(merged[1]);
    expect(merged[2]).toBe(merged[3]);
    expect(merged[0]).not.toBe(merged[2]);
    expect(Array.from(merged)).toEqual([0, 0, 1, 1]);
    // down to one group, everything is joined
    expect(Array.from(mergeAlongGraph(labels, 4, nbr, 1, 1))).toEqual([0, 0, 0, 0]);
  });

  it('modularity is high for the graph\'s own components and lower for a mixed split', () => {
    const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
    const nbr = Int32Array.from([1, 2, 3, 0, 5, 6, 7, 4]);
    expect(graphModularity(labels, 2, nbr, 1)).toBeCloseTo(0.5, 10);
    expect(graphModularity(Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]), 2, nbr, 1)).toBeCloseTo(-0.5, 10);
  });
});

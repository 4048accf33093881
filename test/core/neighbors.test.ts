import { describe, expect, it } from 'vitest';
import { allKnn, distanceTo, NeighborIndex, type Metric } from '../../src/core/neighbors.js';
import { gaussian, seededRandom } from '../../src/core/random.js';

/** Seeded Gaussian blobs: row i belongs to blob i % blobs. */
function blobs(n: number, d: number, nBlobs: number, seed: number, spread = 1, box = 10): { data: Float32Array; blob: Int32Array } {
  const r = seededRandom(seed);
  const centres = Array.from({ length: nBlobs * d }, () => (r() * 2 - 1) * box);
  const data = new Float32Array(n * d);
  const blob = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    blob[i] = i % nBlobs;
    for (let t = 0; t < d; t++) data[i * d + t] = centres[blob[i] * d + t] + spread * gaussian(r);
  }
  return { data, blob };
}

/** Reference: every distance, fully sorted. */
function naive(data: Float32Array, n: number, d: number, q: Float32Array, k: number, metric: Metric, exclude = -1): { index: number; distance: number }[] {
  const all = [];
  for (let j = 0; j < n; j++) if (j !== exclude) all.push({ index: j, distance: distanceTo(metric, data, j, d, q) });
  return all.sort((a, b) => a.distance - b.distance || a.index - b.index).slice(0, k);
}

const METRICS: Metric[] = ['euclidean', 'cosine'];

describe('NeighborIndex', () => {
  for (const metric of METRICS) {
    it(`${metric}: neighbours on seeded blobs come from the same blob`, () => {
      const n = 300;
      const d = 8;
      const { data, blob } = blobs(n, d, 5, 7);
      const index = new NeighborIndex(data, n, d);
      for (let i = 0; i < n; i += 7) {
        const res = index.queryRow(i, 10, metric);
        expect(res).toHaveLength(10);
        expect(res.some((x) => x.index === i)).toBe(false);
        for (const x of res) expect(blob[x.index]).toBe(blob[i]);
      }
    });

    it(`${metric}: equals a naive sorted scan, distances included`, () => {
      const n = 500;
      const d = 12;
      const { data } = blobs(n, d, 3, 11, 3);
      const index = new NeighborIndex(data, n, d);
      const r = seededRandom(3);
      for (let q = 0; q < 20; q++) {
        const v = Float32Array.from({ length: d }, () => gaussian(r) * 5);
        const got = index.query(v, 7, { metric });
        const want = naive(data, n, d, v, 7, metric);
        expect(got.map((x) => x.index)).toEqual(want.map((x) => x.index));
        got.forEach((x, t) => expect(x.distance).toBeCloseTo(want[t].distance, 6));
        for (let t = 1; t < got.length; t++) expect(got[t].distance).toBeGreaterThanOrEqual(got[t - 1].distance);
      }
    });
  }

  it('a row queried without exclusion finds itself at distance 0; k is clamped to n', () => {
    const { data } = blobs(20, 4, 2, 1);
    const index = new NeighborIndex(data, 20, 4);
    const res = index.query(index.row(5), 50);
    expect(res).toHaveLength(20);
    expect(res[0]).toEqual({ index: 5, distance: 0 });
    expect(index.queryRow(5, 50)).toHaveLength(19);
  });

  it('cosine: scale does not matter, a zero vector is at distance 1', () => {
    const data = Float32Array.from([1, 0, 0, 1, 0, 0, -1, 0]);
    const index = new NeighborIndex(data, 4, 2);
    const res = index.query(Float32Array.from([10, 0]), 4, { metric: 'cosine' });
    expect(res.map((x) => x.index)).toEqual([0, 1, 2, 3]);
    expect(res.map((x) => x.distance)).toEqual([0, 1, 1, 2]);
    expect(index.query(Float32Array.from([0, 0]), 1, { metric: 'cosine' })[0].distance).toBe(1);
  });

  it('rejects a query vector of the wrong length', () => {
    const index = new NeighborIndex(new Float32Array(12), 3, 4);
    expect(() => index.query(new Float32Array(3), 1)).toThrow(/3 values but the embeddings have 4/);
  });
});

describe('allKnn', () => {
  for (const metric of METRICS) {
    it(`${metric}: every row's list equals the single-query search`, async () => {
      const n = 240;
      const d = 6;
      const { data } = blobs(n, d, 4, 5, 2);
      const index = new NeighborIndex(data, n, d);
      const g = await allKnn(data, n, d, 10, { metric });
      expect(g.k).toBe(10);
      for (let i = 0; i < n; i++) {
        const want = index.queryRow(i, 10, metric);
        const got = Array.from(g.indices.subarray(i * 10, i * 10 + 10));
        expect(got).toEqual(want.map((x) => x.index));
        want.forEach((x, t) => expect(g.distances[i * 10 + t]).toBeCloseTo(x.distance, 9));
      }
    });
  }

  it('clamps k to n − 1', async () => {
    const g = await allKnn(Float32Array.from([0, 1, 3]), 3, 1, 10);
    expect(g.k).toBe(2);
    expect(Array.from(g.indices)).toEqual([1, 2, 0, 2, 1, 0]);
    expect(Array.from(g.distances)).toEqual([1, 3, 1, 2, 2, 3]);
  });

  it('the approximate search (used above 10,000 rows) finds most true neighbours and says it is approximate', async () => {
    const n = 3000;
    const d = 8;
    const { data } = blobs(n, d, 6, 17, 2);
    const exact = await allKnn(data, n, d, 10);
    const approx = await allKnn(data, n, d, 10, { approximate: true });
    expect(exact.exact).toBe(true);
    expect(approx.exact).toBe(false);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const truth = new Set(exact.indices.subarray(i * 10, i * 10 + 10));
      for (let t = 0; t < 10; t++) if (truth.has(approx.indices[i * 10 + t])) hits++;
    }
    expect(hits / (n * 10)).toBeGreaterThan(0.9);
  });
});

import { describe, expect, it } from 'vitest';
import { allKnn } from '../../src/core/neighbors.js';
import { findDuplicateRows, outlierScores, quantileSorted, rankOutliers, robustZ } from '../../src/core/outliers.js';
import { gaussian, seededRandom } from '../../src/core/random.js';

function blobs(n: number, d: number, nBlobs: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const centres = Array.from({ length: nBlobs * d }, () => (r() * 2 - 1) * 6);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) data[i * d + t] = centres[(i % nBlobs) * d + t] + gaussian(r);
  return data;
}

function errorsFor(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  // Reconstruction errors are positive and skewed: a log-normal.
  return Float32Array.from({ length: n }, () => Math.exp(-4 + 0.3 * gaussian(r)));
}

describe('robust scaling', () => {
  it('quantiles interpolate like numpy; z = (x − median) / IQR', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBeCloseTo(2.5);
    const z = robustZ([1, 2, 3, 4, 100]);
    // median 3, Q1 2, Q3 4 → IQR 2
    expect(Array.from(z)).toEqual([-1, -0.5, 0, 0.5, 48.5]);
  });
  it('falls back to the mean absolute deviation when the IQR is 0', () => {
    const z = robustZ([5, 5, 5, 5, 5, 5, 15]);
    expect(z[6]).toBeGreaterThan(1);
    expect(z[0]).toBe(0);
    expect(Array.from(robustZ([2, 2, 2]))).toEqual([0, 0, 0]);
  });
});

describe('outlierScores', () => {
  const n = 600;
  const d = 16;

  it('a planted out-of-distribution vector ranks in the top 1% and is flagged', async () => {
    const codes = blobs(n, d, 4, 3);
    const planted = 137;
    for (let t = 0; t < d; t++) codes[planted * d + t] = 25 + t; // far from every blob
    const res = await outlierScores(codes, n, d, errorsFor(n, 4));
    const top = Array.from(rankOutliers(res.scores).subarray(0, n / 100));
    expect(top).toContain(planted);
    expect(res.flagged[planted]).toBe(1);
    // Tukey's fence on well-behaved data flags a small minority only.
    const flagged = res.flagged.reduce((a, b) => a + b, 0);
    expect(flagged).toBeLessThan(n * 0.1);
  });

  it('an image the autoencoder reconstructs badly ranks in the top 1% even with an ordinary code', async () => {
    const codes = blobs(n, d, 4, 5);
    const errors = errorsFor(n, 6);
    errors[42] = 1; // ~50× the typical error
    const res = await outlierScores(codes, n, d, errors);
    expect(Array.from(rankOutliers(res.scores).subarray(0, n / 100))).toContain(42);
    // Without the errors, row 42 is unremarkable.
    const codesOnly = await outlierScores(codes, n, d, undefined, { knn: res.knn });
    expect(codesOnly.flagged[42]).toBe(0);
  });

  it('c sets the fence: a larger c flags fewer images', async () => {
    const codes = blobs(n, d, 2, 8);
    const errors = errorsFor(n, 9);
    const knn = await allKnn(codes, n, d, 10);
    const loose = await outlierScores(codes, n, d, errors, { knn, c: 0.5 });
    const strict = await outlierScores(codes, n, d, errors, { knn, c: 3 });
    const count = (f: Uint8Array) => f.reduce((a, b) => a + b, 0);
    expect(strict.threshold).toBeGreaterThan(loose.threshold);
    expect(count(strict.flagged)).toBeLessThan(count(loose.flagged));
  });
});

describe('findDuplicateRows', () => {
  it('exact duplicates come from equal content hashes, reported against the first copy', () => {
    const res = findDuplicateRows(['a', 'b', 'a', 'c', 'b', 'a']);
    expect(res.duplicates).toEqual([
      { index: 2, of: 0, kind: 'exact', distance: 0 },
      { index: 4, of: 1, kind: 'exact', distance: 0 },
      { index: 5, of: 0, kind: 'exact', distance: 0 },
    ]);
  });

  it('near duplicates: a tiny latent distance relative to the median nearest-neighbour distance', async () => {
    const n = 300;
    const d = 8;
    const codes = blobs(n, d, 3, 12);
    const r = seededRandom(13);
    // Row 250 is a near copy of row 10 (a re-saved file: other bytes, almost the same code).
    for (let t = 0; t < d; t++) codes[250 * d + t] = codes[10 * d + t] + 0.001 * gaussian(r);
    // Row 260 is an exact copy of row 20 (same hash).
    codes.set(codes.subarray(20 * d, 21 * d), 260 * d);
    const hashes = Array.from({ length: n }, (_, i) => (i === 260 ? 'h20' : `h${i}`));
    const knn = await allKnn(codes, n, d, 10);
    const res = findDuplicateRows(hashes, knn, { data: codes, d });
    expect(res.threshold).toBeCloseTo(0.1 * res.medianNearest);
    expect(res.medianNearest).toBeGreaterThan(0.1);
    const byIndex = new Map(res.duplicates.map((x) => [x.index, x]));
    expect(byIndex.get(260)).toMatchObject({ of: 20, kind: 'exact', distance: 0 });
    expect(byIndex.get(250)).toMatchObject({ of: 10, kind: 'near' });
    expect(byIndex.get(250)!.distance).toBeLessThan(res.threshold);
    expect(res.duplicates).toHaveLength(2);
    // ratio 0: exact ones only.
    expect(findDuplicateRows(hashes, knn, { data: codes, d }, { ratio: 0 }).duplicates.map((x) => x.index)).toEqual([260]);
  });
});

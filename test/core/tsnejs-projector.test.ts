import { describe, expect, it } from 'vitest';
import type { ProjectionFrame } from '../../src/core/projection.js';
import { seededRandom } from '../../src/core/random.js';
import { TsneJsProjector, placeFromSample } from '../../src/core/tsnejs-projector.js';
import { CancelledError, type Progress } from '../../src/core/types.js';
import { makeBlobs } from '../fixtures/blobs.js';

/** Fraction of a point's k nearest 2-D neighbours (among `rows`, default all) that share its label, averaged. */
function neighbourAgreement(coords: Float32Array, labels: Int32Array, k: number): number {
  const n = labels.length;
  let agree = 0;
  for (let i = 0; i < n; i++) {
    const ds: [number, number][] = [];
    for (let j = 0; j < n; j++) if (j !== i) ds.push([(coords[2 * i] - coords[2 * j]) ** 2 + (coords[2 * i + 1] - coords[2 * j + 1]) ** 2, j]);
    ds.sort((a, b) => a[0] - b[0]);
    for (let t = 0; t < k; t++) if (labels[ds[t][1]] === labels[i]) agree++;
  }
  return agree / (n * k);
}

const n = 150;
const d = 10;
const blobs = makeBlobs({ n, d, centers: 3, spread: 1, seed: 4 });

describe('TsneJsProjector, exact', () => {
  it('keeps blob neighbourhoods, streams frames and progress, and is reproducible', async () => {
    const frames: ProjectionFrame[] = [];
    const progress: Progress[] = [];
    const projector = new TsneJsProjector({ iterations: 200 });
    const res = await projector.project(blobs.data, n, d, { random: seededRandom(1), onFrame: (f) => frames.push(f), onProgress: (p) => progress.push(p) });
    expect(res.method).toBe('tsne-js (exact)');
    expect(res.note).toBeUndefined();
    expect(res.coords).toHaveLength(2 * n);
    expect(res.coords.every(Number.isFinite)).toBe(true);
    expect(res.kl).toBeGreaterThan(0);
    expect(res.kl).toBeLessThan(1);
    expect(neighbourAgreement(res.coords, blobs.labels, 5)).toBeGreaterThan(0.95);
    // the map is not degenerate: blobs are spread over more than a point
    const xs = Array.from({ length: n }, (_, i) => res.coords[2 * i]);
    expect(Math.max(...xs) - Math.min(...xs)).toBeGreaterThan(1);

    expect(frames.length).toBeGreaterThanOrEqual(5);
    for (const f of frames) {
      expect(f.coords).toHaveLength(2 * n);
      expect(f.indices).toBeUndefined();
      expect(f.totalIterations).toBe(200);
    }
    for (let i = 1; i < frames.length; i++) expect(frames[i].iteration).toBeGreaterThan(frames[i - 1].iteration);
    expect(progress.every((p) => p.step === 'tsne')).toBe(true);
    expect(progress.at(-1)!.done).toBe(200);

    // golden under seed 1 (tsne-js 1.0.3, seeded initial embedding in the worker)
    expect(res.kl!).toBeCloseTo(GOLDEN_KL, 3);
    expect(res.coords[0]).toBeCloseTo(GOLDEN_X0, 2);

    const again = await projector.project(blobs.data, n, d, { random: seededRandom(1) });
    expect(again.coords).toEqual(res.coords);
    const other = await projector.project(blobs.data, n, d, { random: seededRandom(2) });
    expect(other.coords).not.toEqual(res.coords);
    expect(neighbourAgreement(other.coords, blobs.labels, 5)).toBeGreaterThan(0.95);
  }, 60_000);

  it('stops with CancelledError when aborted during the run or before it', async () => {
    const pre = new AbortController();
    pre.abort();
    await expect(new TsneJsProjector().project(blobs.data, n, d, { random: seededRandom(1), signal: pre.signal })).rejects.toBeInstanceOf(CancelledError);
    const ac = new AbortController();
    let frames = 0;
    const t0 = Date.now();
    const run = new TsneJsProjector({ iterations: 1000 }).project(blobs.data, n, d, {
      random: seededRandom(1),
      signal: ac.signal,
      onFrame: () => {
        frames++;
        ac.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(frames).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 30_000);
});

describe('TsneJsProjector, sampled', () => {
  it('runs on a sample, places every other point near its blob, and says so', async () => {
    const big = makeBlobs({ n: 400, d, centers: 3, spread: 1, seed: 5 });
    const frames: ProjectionFrame[] = [];
    const projector = new TsneJsProjector({ maxExact: 60, iterations: 150 });
    const res = await projector.project(big.data, 400, d, { random: seededRandom(3), onFrame: (f) => frames.push(f) });
    expect(res.note).toBe('t-SNE on 60 sampled points; 340 placed from their 5 nearest sampled neighbours');
    expect(res.method).toBe('tsne-js (exact)');
    expect(res.coords).toHaveLength(800);
    expect(res.coords.every(Number.isFinite)).toBe(true);
    expect(neighbourAgreement(res.coords, big.labels, 5)).toBeGreaterThan(0.9);
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) {
      expect(f.indices).toHaveLength(60);
      expect(f.coords).toHaveLength(120);
    }
    const again = await projector.project(big.data, 400, d, { random: seededRandom(3) });
    expect(again.coords).toEqual(res.coords);
  }, 60_000);

  it('placeFromSample: inverse-distance weighting, duplicates on their sampled twin', async () => {
    // 1-D rows 0, 10 (sampled, mapped to (0,0) and (10,20)), 2 and 10 (placed)
    const data = Float32Array.from([0, 10, 2, 10]);
    const coords = await placeFromSample(data, 4, 1, Uint32Array.from([0, 1]), Float32Array.from([0, 0, 10, 20]), 2, seededRandom(1), { jitter: 0 });
    // weights 1/2 and 1/8 → (0.5·(0,0) + 0.125·(10,20)) / 0.625 = (2, 4)
    expect(Array.from(coords)).toEqual([0, 0, 10, 20, 2, 4, 10, 20]);
    const jittered = await placeFromSample(data, 4, 1, Uint32Array.from([0, 1]), Float32Array.from([0, 0, 10, 20]), 2, seededRandom(1));
    expect(Array.from(jittered.slice(0, 4))).toEqual([0, 0, 10, 20]);
    expect(Math.hypot(jittered[4] - 2, jittered[5] - 4)).toBeGreaterThan(0);
    expect(Math.hypot(jittered[4] - 2, jittered[5] - 4)).toBeLessThan(0.25 * Math.hypot(10, 20) * 5);
  });
});

const GOLDEN_KL = 0.272583;
const GOLDEN_X0 = 7.1316;

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Autoencoder, corruptBatch, listPresets, type AutoencoderConfig } from '../../src/core/autoencoder.js';
import { initTf, tf } from '../../src/core/tf/backend.js';
import { seededRandom } from '../../src/core/random.js';
import { CancelledError, UserError, type Progress } from '../../src/core/types.js';

const S = 16;
const N = 240;

/** N seeded 16×16 grey images of three kinds (filled square, ring, horizontal bar) at random places and sizes. */
function shapes(n: number, seed: number): { pixels: Uint8Array; kinds: number[] } {
  const r = seededRandom(seed);
  const pixels = new Uint8Array(n * S * S);
  const kinds: number[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 3;
    kinds.push(kind);
    const cx = 4 + r() * 8;
    const cy = 4 + r() * 8;
    const rad = 2 + r() * 2.5;
    const fg = 150 + Math.floor(r() * 105);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const d = Math.hypot(x - cx, y - cy);
        const on =
          kind === 0 ? Math.abs(x - cx) < rad && Math.abs(y - cy) < rad : kind === 1 ? Math.abs(d - rad) < 1 : Math.abs(y - cy) < 1.2;
        pixels[i * S * S + y * S + x] = on ? fg : 5 + Math.floor(r() * 20);
      }
    }
  }
  return { pixels, kinds };
}

const config: AutoencoderConfig = { preset: 'small', size: S, channels: 1, latent: 8, seed: 7 };
const data = shapes(N, 1);
let dir: string;

beforeAll(async () => {
  const info = await initTf();
  // Never train convolutions on the plain cpu backend in tests (about 9 images/s).
  expect(info.name).not.toBe('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clusterlens-ae-'));
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const mean = (a: ArrayLike<number>) => Array.prototype.reduce.call(a, (s: number, v: number) => s + v, 0) as number / a.length;

describe('Autoencoder', () => {
  it('lists the presets, small being one of them', async () => {
    const presets = await listPresets();
    expect(presets).toContain('small');
    expect(presets.length).toBeGreaterThanOrEqual(2);
  });

  it('trains (loss falls), encodes to finite codes, saves and loads to identical codes, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const ae = await Autoencoder.create(config);
    const untrained = await ae.encode(data.pixels, N);

    const events: Progress[] = [];
    const res = await ae.train(data.pixels, N, {
      epochs: 4,
      sample: 200,
      batchSize: 32,
      random: seededRandom(3),
      onProgress: (p) => events.push(p),
    });
    expect(res.trainedOn).toBe(200);
    expect(res.losses).toHaveLength(4);
    for (const l of res.losses) expect(Number.isFinite(l)).toBe(true);
    expect(res.finalLoss).toBe(res.losses[3]);
    expect(res.losses[3]).toBeLessThan(res.losses[0] * 0.8);
    expect(res.imagesPerSecond).toBeGreaterThan(0);
    // Progress per batch: 7 batches (200 / 32) per epoch.
    expect(events).toHaveLength(28);
    expect(events.every((e) => e.step === 'train' && e.total === 28 && Number.isFinite(e.loss))).toBe(true);
    expect(events.map((e) => e.done)).toEqual(Array.from({ length: 28 }, (_, i) => i + 1));
    expect(events[0].message).toBe('epoch 1/4');
    expect(events[27].message).toBe('epoch 4/4');

    const encEvents: Progress[] = [];
    const enc = await ae.encode(data.pixels, N, { batchSize: 100, onProgress: (p) => encEvents.push(p) });
    expect(enc.codes).toHaveLength(N * 8);
    expect(enc.errors).toHaveLength(N);
    expect(enc.codes.every(Number.isFinite)).toBe(true);
    expect(enc.errors.every((e) => Number.isFinite(e) && e >= 0)).toBe(true);
    expect(encEvents.map((e) => [e.step, e.done, e.total])).toEqual([
      ['encode', 1, 3],
      ['encode', 2, 3],
      ['encode', 3, 3],
    ]);
    // Training made the reconstructions better, and the per-image errors agree with the training loss scale.
    expect(mean(enc.errors)).toBeLessThan(mean(untrained.errors) * 0.8);
    expect(mean(enc.errors)).toBeLessThan(res.losses[0]);
    // Codes do not depend on the batch size.
    const enc1 = await ae.encode(data.pixels.subarray(0, 5 * S * S), 5, { batchSize: 2 });
    expect(maxAbsDiff(enc1.codes, enc.codes.subarray(0, 5 * 8))).toBeLessThan(1e-5);

    const rec = await ae.reconstruct(data.pixels.subarray(0, 3 * S * S), 3);
    expect(rec).toBeInstanceOf(Uint8Array);
    expect(rec).toHaveLength(3 * S * S);
    // The reconstruction error computed from the returned pixels matches errors[] (up to 8-bit rounding).
    let se = 0;
    for (let i = 0; i < S * S; i++) se += ((rec[i] - data.pixels[i]) / 255) ** 2;
    expect(Math.abs(se / (S * S) - enc.errors[0])).toBeLessThan(0.002);

    await ae.save(dir);
    const files = await fs.readdir(dir);
    expect(files).toEqual(expect.arrayContaining(['model.json', 'weights.bin', 'clusterlens.json']));
    const modelJson = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as { format: string; weightsManifest: unknown[] };
    expect(modelJson.format).toBe('layers-model');
    expect(modelJson.weightsManifest).toHaveLength(1);
    ae.dispose();

    const loaded = await Autoencoder.load(dir);
    expect(loaded.config).toEqual(config);
    const again = await loaded.encode(data.pixels, N);
    expect(maxAbsDiff(again.codes, enc.codes)).toBe(0);
    expect(maxAbsDiff(again.errors, enc.errors)).toBe(0);
    loaded.dispose();

    expect(tf.memory().numTensors).toBe(before);
  });

  it('same seed gives the same weights and the same trained codes; another seed does not', async () => {
    const run = async (seed: number) => {
      const ae = await Autoencoder.create({ ...config, seed });
      const first = await ae.encode(data.pixels.subarray(0, 20 * S * S), 20);
      await ae.train(data.pixels, N, { epochs: 1, sample: 64, batchSize: 32, random: seededRandom(5) });
      const trained = await ae.encode(data.pixels.subarray(0, 20 * S * S), 20);
      ae.dispose();
      return { first: first.codes, trained: trained.codes };
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(maxAbsDiff(a.first, b.first)).toBe(0);
    expect(maxAbsDiff(a.trained, b.trained)).toBe(0);
    expect(maxAbsDiff(a.first, c.first)).toBeGreaterThan(1e-3);
  });

  it('cancels training and encoding with CancelledError when the signal aborts, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const ae = await Autoencoder.create(config);
    const ctrl = new AbortController();
    let batches = 0;
    const training = ae.train(data.pixels, N, {
      epochs: 50,
      sample: N,
      batchSize: 16,
      random: seededRandom(1),
      signal: ctrl.signal,
      onProgress: () => {
        if (++batches === 3) ctrl.abort();
      },
    });
    await expect(training).rejects.toBeInstanceOf(CancelledError);
    expect(batches).toBe(3);

    // An abort from outside (a timer) is seen between batches because training yields to the event loop.
    const ctrl2 = new AbortController();
    setTimeout(() => ctrl2.abort(), 30);
    const t0 = performance.now();
    await expect(ae.train(data.pixels, N, { epochs: 500, sample: N, batchSize: 16, random: seededRandom(1), signal: ctrl2.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(performance.now() - t0).toBeLessThan(5000);

    const ctrl3 = new AbortController();
    ctrl3.abort();
    await expect(ae.encode(data.pixels, N, { signal: ctrl3.signal })).rejects.toBeInstanceOf(CancelledError);
    ae.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('handles 3 channels, sizes that are not a multiple of the strides, and the larger preset', async () => {
    const before = tf.memory().numTensors;
    for (const [preset, size] of [
      ['small', 30],
      ['medium', 28],
    ] as const) {
      const ae = await Autoencoder.create({ preset, size, channels: 3, latent: 5, seed: 1 });
      const n = 6;
      const px = new Uint8Array(n * size * size * 3).map((_, i) => (i * 31) % 256);
      const res = await ae.train(px, n, { epochs: 1, sample: n, batchSize: 4, random: seededRandom(1) });
      expect(Number.isFinite(res.finalLoss)).toBe(true);
      const enc = await ae.encode(px, n);
      expect(enc.codes).toHaveLength(n * 5);
      expect(enc.codes.every(Number.isFinite)).toBe(true);
      expect(await ae.reconstruct(px, n)).toHaveLength(n * size * size * 3);
      ae.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with UserError', async () => {
    await expect(Autoencoder.create({ ...config, preset: 'no-such-preset' })).rejects.toBeInstanceOf(UserError);
    await expect(Autoencoder.create({ ...config, channels: 2 as 1 })).rejects.toBeInstanceOf(UserError);
    const ae = await Autoencoder.create(config);
    await expect(ae.encode(new Uint8Array(10), 1)).rejects.toBeInstanceOf(UserError);
    ae.dispose();
    await expect(Autoencoder.load(path.join(dir, 'does-not-exist'))).rejects.toBeInstanceOf(UserError);
  });
});

describe('corruptBatch (preset "augment")', () => {
  it('shifts each image by at most `shift` pixels with zero fill, and masks about `mask` of the pixels', () => {
    const size = 6;
    const clean = new Float32Array(2 * size * size);
    clean[0 * 36 + 2 * size + 3] = 1; // image 0: one lit pixel at (x 3, y 2)
    for (let j = 36; j < 72; j++) clean[j] = 0.5; // image 1: flat
    const out = new Float32Array(clean.length);
    const random = seededRandom(4);
    const seen = new Set<string>();
    for (let t = 0; t < 50; t++) {
      corruptBatch(clean, out, 2, size, 1, { mask: 0, shift: 1 }, random);
      const lit = Array.from(out.subarray(0, 36)).flatMap((v, j) => (v === 1 ? [j] : []));
      expect(lit).toHaveLength(1);
      const x = lit[0] % size;
      const y = Math.floor(lit[0] / size);
      expect(Math.abs(x - 3)).toBeLessThanOrEqual(1);
      expect(Math.abs(y - 2)).toBeLessThanOrEqual(1);
      seen.add(`${x},${y}`);
      // the flat image keeps 0.5 inside and gets zeros only along the border it was shifted away from
      expect(out.subarray(36, 72).every((v) => v === 0.5 || v === 0)).toBe(true);
    }
    expect(seen.size).toBe(9);
    expect(clean[2 * size + 3]).toBe(1); // the clean batch is untouched
    const big = new Float32Array(100 * 36).fill(1);
    const masked = corruptBatch(big, new Float32Array(big.length), 100, size, 1, { mask: 0.3, shift: 0 }, seededRandom(1));
    const zeros = masked.filter((v) => v === 0).length / masked.length;
    expect(zeros).toBeGreaterThan(0.27);
    expect(zeros).toBeLessThan(0.33);
  });
});

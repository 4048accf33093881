import { describe, it, expect } from 'vitest';
import { hogBatch, hogLayout } from '../../src/core/hog.js';
import { seededRandom } from '../../src/core/random.js';

/** A size×size grayscale image from f(x, y). */
function image(size: number, f: (x: number, y: number) => number): Uint8Array {
  const px = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) px[y * size + x] = f(x, y);
  return px;
}

/** Sum of each orientation bin over the whole descriptor. */
function binTotals(desc: Float32Array, bins: number): number[] {
  const t = new Array<number>(bins).fill(0);
  for (let i = 0; i < desc.length; i++) t[i % bins] += desc[i];
  return t;
}

describe('HOG descriptor', () => {
  it('lays out cells of a seventh of the image, 2×2-cell blocks moved a cell at a time, 9 bins', () => {
    expect(hogLayout(28)).toEqual({ bins: 9, cell: 4, cells: 7, blocks: 6, dims: 6 * 6 * 4 * 9 });
    expect(hogLayout(32)).toEqual({ bins: 9, cell: 4, cells: 8, blocks: 7, dims: 7 * 7 * 36 });
    expect(hogLayout(64).cell).toBe(9);
    expect(hogLayout(16, { cell: 8, bins: 6 })).toEqual({ bins: 6, cell: 8, cells: 2, blocks: 1, dims: 24 });
    expect(() => hogLayout(16, { cell: 9 })).toThrow(/too small for HOG cells of 9 px/);
    expect(() => hogLayout(16, { bins: 1 })).toThrow(/bins must be an integer ≥ 2/);
  });

  it('puts a horizontal edge in the 90° bin and a vertical edge half in each bin next to 0°', () => {
    const size = 16;
    const layout = hogLayout(size);
    const horizontal = hogBatch(image(size, (_x, y) => (y < 8 ? 0 : 200)), size, 1, 0, 1, layout);
    const h = binTotals(horizontal, 9);
    expect(h[4]).toBeGreaterThan(0);
    h.forEach((v, b) => b !== 4 && expect(v).toBe(0));
    // gradient along x: 0°, halfway between the centres of the first (10°) and last (170°) bins
    const vertical = hogBatch(image(size, (x) => (x < 8 ? 0 : 200)), size, 1, 0, 1, layout);
    const v = binTotals(vertical, 9);
    expect(v[0]).toBeGreaterThan(0);
    expect(v[8]).toBeCloseTo(v[0], 5);
    v.forEach((x, b) => b !== 0 && b !== 8 && expect(x).toBe(0));
    // a 45° ramp (brighter towards +x and +y): inside the image all in the bins around 45° (centres 30° and 50°);
    // only the border row and column, whose derivative across the border is 0, fall at 0° and 90°
    const diag = binTotals(hogBatch(image(size, (x, y) => 6 * (x + y)), size, 1, 0, 1, layout), 9);
    expect(diag[1] + diag[2]).toBeGreaterThan(0.8 * diag.reduce((a, b) => a + b, 0));
    expect(diag[3] + diag[5] + diag[6] + diag[7]).toBe(0);
    expect(diag[2]).toBeGreaterThan(diag[1]); // 45° is nearer 50° than 30°
  });

  it('normalises every block to unit length, and a flat image describes as zeros', () => {
    const size = 28;
    const layout = hogLayout(size);
    const r = seededRandom(3);
    const desc = hogBatch(image(size, () => Math.floor(r() * 256)), size, 1, 0, 1, layout);
    const block = 4 * layout.bins;
    for (let b = 0; b < layout.blocks * layout.blocks; b++) {
      let s = 0;
      for (let i = 0; i < block; i++) s += desc[b * block + i] ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(1, 4);
    }
    expect(hogBatch(image(size, () => 90), size, 1, 0, 1, layout).every((x) => x === 0)).toBe(true);
  });

  it('does not change with contrast', () => {
    const size = 28;
    const layout = hogLayout(size);
    const r = seededRandom(5);
    const low = image(size, (x, y) => Math.floor(40 + 30 * Math.sin(x / 3) * Math.cos(y / 4) + 20 * r()));
    const high = low.map((v) => 2 * v);
    const a = hogBatch(low, size, 1, 0, 1, layout);
    const b = hogBatch(high, size, 1, 0, 1, layout);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('takes each pixel\'s strongest colour channel, and describes images of a batch independently', () => {
    const size = 16;
    const layout = hogLayout(size);
    const r = seededRandom(9);
    const green = image(size, (x, y) => Math.floor(128 + 100 * Math.sin((x + 2 * y) / 3) * r()));
    const rgb = new Uint8Array(size * size * 3);
    for (let i = 0; i < size * size; i++) {
      rgb[3 * i] = 60; // flat red and blue: no gradient there
      rgb[3 * i + 1] = green[i];
      rgb[3 * i + 2] = 200;
    }
    expect(Array.from(hogBatch(rgb, size, 3, 0, 1, layout))).toEqual(Array.from(hogBatch(green, size, 1, 0, 1, layout)));

    const other = image(size, (x) => (x * 37) % 256);
    const both = new Uint8Array(2 * size * size);
    both.set(green, 0);
    both.set(other, size * size);
    const batch = hogBatch(both, size, 1, 0, 2, layout);
    expect(Array.from(batch.subarray(layout.dims))).toEqual(Array.from(hogBatch(other, size, 1, 0, 1, layout)));
    expect(Array.from(hogBatch(both, size, 1, 1, 2, layout))).toEqual(Array.from(batch.subarray(layout.dims)));
  });
});

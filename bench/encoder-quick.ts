/**
 * Quick autoencoder throughput on synthetic images: `npx tsx bench/encoder-quick.ts [preset|file.json] [batch] [n]`.
 * Prints train and encode images/s at 28×28×1 and 32×32×3 on the backend initTf() picks (CLUSTERLENS_BACKEND to force).
 */
import { Autoencoder } from '../src/core/autoencoder.js';
import { initTf } from '../src/core/tf/backend.js';
import { seededRandom } from '../src/core/random.js';

const preset = process.argv[2] ?? 'small';
const batch = process.argv[3] ? Number(process.argv[3]) : undefined;
const n = Number(process.argv[4] ?? 1024);
const shapes = (process.env.SHAPES ?? '28x1,32x3').split(',').map((s) => s.split('x').map(Number) as [number, 1 | 3]);

function blobs(count: number, size: number, channels: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const out = new Uint8Array(count * size * size * channels);
  for (let i = 0; i < count; i++) {
    const cx = r() * size, cy = r() * size, rad = 2 + r() * size * 0.3;
    const col = [r(), r(), r()];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < rad * rad;
        for (let c = 0; c < channels; c++) out[((i * size + y) * size + x) * channels + c] = inside ? 40 + 215 * col[c] : 10;
      }
  }
  return out;
}

const info = await initTf();
console.log(`backend: ${info.detail}; preset ${preset}; batch ${batch ?? 'preset default'}; n ${n}`);
for (const [size, channels] of shapes) {
  const pixels = blobs(n, size, channels, 1);
  const ae = await Autoencoder.create({ preset, size, channels, latent: 32, seed: 1 });
  // Warm-up (kernel setup, first allocations), then one timed epoch.
  await ae.train(pixels, n, { epochs: 1, sample: Math.min(n, 256), batchSize: batch, random: seededRandom(2) });
  const t = await ae.train(pixels, n, { epochs: 2, sample: n, batchSize: batch, random: seededRandom(3) });
  const t0 = performance.now();
  await ae.encode(pixels, n);
  const encodeRate = n / ((performance.now() - t0) / 1000);
  console.log(
    `${size}x${size}x${channels}: params ${ae.parameters}, train ${t.imagesPerSecond.toFixed(0)} img/s (loss ${t.losses.map((l) => l.toFixed(4)).join(' → ')}), encode ${encodeRate.toFixed(0)} img/s`,
  );
  ae.dispose();
}

/**
 * npm run bench:encoder [-- --n 10000 --epochs 2]: autoencoder training and encoding throughput (images/s) on the
 * active tfjs backend for 28×28×1 (Fashion-MNIST) and 32×32×3 (Fashion-MNIST resized and tinted per class, as a
 * colour stand-in) with the default `small` preset. If python3 with PyTorch is installed (Debian: python3-torch),
 * the same architecture in PyTorch on CPU with 2 threads runs on the same images in the same run, and the ratio
 * is printed. Last line: one JSON object.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Autoencoder } from '../src/core/autoencoder.js';
import { initTf } from '../src/core/tf/backend.js';
import { readFashionMnist } from '../src/core/idx.js';
import { writeNpy } from '../src/core/npy.js';
import { seededRandom } from '../src/core/random.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '10000' }, epochs: { type: 'string', default: '2' } } });
const n = Number(values.n);
const epochs = Number(values.epochs);
const info = await initTf();
const fm = await readFashionMnist('train');
const gray = fm.images.subarray(0, n * 784);

/** 32×32×3: each image resized, and tinted with a colour per class, so colour carries signal. */
async function colour32(): Promise<Uint8Array> {
  const out = new Uint8Array(n * 32 * 32 * 3);
  const tint = Array.from({ length: 10 }, (_, k) => [0.4 + 0.6 * ((k * 37) % 10) / 10, 0.4 + 0.6 * ((k * 53) % 10) / 10, 0.4 + 0.6 * ((k * 71) % 10) / 10]);
  for (let i = 0; i < n; i++) {
    const px = await sharp(Buffer.from(gray.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).resize(32, 32).raw().toBuffer();
    const t = tint[fm.labels[i]];
    for (let p = 0; p < 1024; p++) for (let ch = 0; ch < 3; ch++) out[(i * 1024 + p) * 3 + ch] = Math.round(px[p] * t[ch]);
  }
  return out;
}

const python = [process.env.PYTHON, 'python3', '/usr/bin/python3'].find((p) => p && spawnSync(p, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0);
if (!python) console.log('reference: python3 with PyTorch not found (apt-get install -y python3-torch); skipping it');
const tmp = await mkdtemp(join(tmpdir(), 'clusterlens-bench-encoder-'));
const results: Record<string, unknown> = {};
for (const [name, size, channels, pixels] of [['28x28x1', 28, 1, gray], ['32x32x3', 32, 3, await colour32()]] as const) {
  const ae = await Autoencoder.create({ preset: 'small', size, channels, latent: 32, seed: 1 });
  const tr = await ae.train(pixels, n, { epochs, sample: n, random: seededRandom(1) });
  const t0 = performance.now();
  await ae.encode(pixels, n);
  const encodeIps = n / ((performance.now() - t0) / 1000);
  ae.dispose();
  const ours = { trainImagesPerSecond: Math.round(tr.imagesPerSecond), encodeImagesPerSecond: Math.round(encodeIps), finalLoss: Number(tr.finalLoss.toPrecision(4)) };
  console.log(`${name}  tfjs ${info.name}: train ${ours.trainImagesPerSecond} img/s, encode ${ours.encodeImagesPerSecond} img/s, loss ${ours.finalLoss}`);
  let reference: Record<string, number | string> | undefined;
  if (python) {
    const file = join(tmp, `${name}.npy`);
    await writeNpy(file, pixels, [n, size, size, channels]);
    const r = JSON.parse(execFileSync(python, [join(import.meta.dirname, 'py', 'torch_ae.py'), file, String(epochs), '32'], { encoding: 'utf8' }).trim().split('\n').pop()!);
    reference = { name: `pytorch ${r.torch} cpu, 2 threads`, trainImagesPerSecond: Math.round(r.trainImagesPerSecond), encodeImagesPerSecond: Math.round(r.encodeImagesPerSecond), finalLoss: Number(r.finalLoss.toPrecision(4)) };
    console.log(`${name}  pytorch: train ${reference.trainImagesPerSecond} img/s, encode ${reference.encodeImagesPerSecond} img/s; pytorch/tfjs training ratio ${(r.trainImagesPerSecond / ours.trainImagesPerSecond).toFixed(2)}× (target ≤ 3×)`);
  }
  results[name] = { ...ours, reference };
}
await rm(tmp, { recursive: true, force: true });
console.log(JSON.stringify({ bench: 'encoder', backend: info.detail, n, epochs, preset: 'small', ...results }));

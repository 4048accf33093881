/** Fashion-MNIST PNG folders for benchmarks, written once into the cache (apt-get install -y dataset-fashion-mnist). */
import { existsSync } from 'node:fs';
import { mkdir, rm, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir, writePngs } from '../src/core/demo.js';
import { FASHION_MNIST_CLASSES, readFashionMnist } from '../src/core/idx.js';

export interface FashionFolder {
  dir: string;
  n: number;
  /** path (relative) → true class index */
  truth: Map<string, number>;
}

export async function fashionMnistPngs(split: 'train' | 'test' | 'all', limit?: number): Promise<FashionFolder> {
  const data = await readFashionMnist(split);
  const n = Math.min(limit ?? data.n, data.n);
  const names = Array.from({ length: n }, (_, i) => `${String(i).padStart(5, '0')}.png`);
  const truth = new Map(names.map((nm, i) => [nm, data.labels[i]]));
  const root = join(cacheDir(), `bench-fashion-mnist-${split}-${n}`);
  const dir = join(root, 'images');
  await buildOnce(root, async (tmp) => {
    await writePngs(join(tmp, 'images'), names, data.images.subarray(0, n * 784), 28, 28, 1, {
      onProgress: (p) => { if (p.done % 5000 === 0) process.stderr.write(`writing PNGs ${p.done}/${p.total}\n`); },
    });
    await writeFile(join(tmp, 'truth.csv'), ['path,label', ...names.map((nm, i) => `${nm},${FASHION_MNIST_CLASSES[data.labels[i]]}`)].join('\n') + '\n');
    return `wrote ${n} PNGs to ${dir}`;
  });
  return { dir, n, truth };
}

/**
 * A cached benchmark dataset folder, built once: `fill` writes into a temporary folder (with an empty images/)
 * that becomes `root` only when complete, so an interrupted build is never mistaken for a finished one. `fill`
 * returns what it did, printed with the time taken.
 */
export async function buildOnce(root: string, fill: (tmp: string) => Promise<string>): Promise<void> {
  if (existsSync(join(root, '.complete'))) return;
  const t0 = Date.now();
  await rm(root, { recursive: true, force: true });
  const tmp = `${root}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'images'), { recursive: true });
  const what = await fill(tmp);
  await writeFile(join(tmp, '.complete'), '');
  await rename(tmp, root);
  process.stderr.write(`${what} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

/**
 * Writes Fashion-MNIST images from Debian's dataset-fashion-mnist as PNGs, for benchmarks and acceptance runs.
 * Run: npx tsx scripts/fashion-mnist-pngs.ts --out DIR [--n N] [--split train|test|all]
 * Also writes DIR/../<name>-truth.csv with path,label of the true classes.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_MNIST_CLASSES, readFashionMnist } from '../src/core/idx.js';
import { writePngs } from '../src/core/demo.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, n: { type: 'string' }, split: { type: 'string', default: 'all' } } });
if (!values.out) throw new Error('--out DIR is required');
const split = values.split as 'train' | 'test' | 'all';
const data = await readFashionMnist(split);
const n = Math.min(Number(values.n ?? data.n), data.n);
const names = Array.from({ length: n }, (_, i) => `${String(i).padStart(5, '0')}.png`);
await mkdir(values.out, { recursive: true });
const t0 = Date.now();
await writePngs(values.out, names, data.images.subarray(0, n * 784), 28, 28, 1, {
  onProgress: (p) => process.stderr.write(`\rwriting PNGs ${p.done}/${p.total}`),
});
const truth = join(dirname(values.out), `${basename(values.out)}-truth.csv`);
await writeFile(truth, ['path,label', ...names.map((nm, i) => `${nm},${FASHION_MNIST_CLASSES[data.labels[i]]}`)].join('\n') + '\n');
process.stderr.write(`\nwrote ${n} PNGs to ${values.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s; truth in ${truth}\n`);

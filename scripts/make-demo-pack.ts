/**
 * Builds models/demo/fashion-mnist-sample.pack.gz from Debian's Fashion-MNIST
 * (apt-get install -y dataset-fashion-mnist). Run: npx tsx scripts/make-demo-pack.ts [n]
 */
import { writeFile } from 'node:fs/promises';
import { DEMO_PACK, encodePack } from '../src/core/demo.js';
import { FASHION_MNIST_CLASSES, readFashionMnist } from '../src/core/idx.js';

const n = Number(process.argv[2] ?? 3000);
const { images, labels } = await readFashionMnist('test');
const pack = encodePack(
  {
    n,
    width: 28,
    height: 28,
    channels: 1,
    classes: [...FASHION_MNIST_CLASSES],
    source: `Fashion-MNIST (Zalando Research, MIT licence), test split, first ${n} images`,
  },
  labels.subarray(0, n),
  images.subarray(0, n * 784),
);
await writeFile(DEMO_PACK, pack);
console.log(`wrote ${DEMO_PACK}: ${n} images, ${(pack.length / 1024).toFixed(0)} KiB`);

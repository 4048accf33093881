import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { UserError } from './types.js';

/** An IDX file (the MNIST / Fashion-MNIST container): unsigned bytes with a shape. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Parse an IDX buffer (gzipped or not). Only the unsigned-byte type (0x08) is supported. */
export function parseIdx(buf: Uint8Array, name = 'IDX data'): IdxArray {
  const raw = buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) throw new UserError(`${name}: not an IDX file`);
  if (raw[2] !== 0x08) throw new UserError(`${name}: only unsigned-byte IDX files are supported (type 0x${raw[2].toString(16)})`);
  const dims = raw[3];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * dims;
  const count = shape.reduce((a, b) => a * b, 1);
  if (raw.length < offset + count) throw new UserError(`${name}: truncated (${raw.length - offset} of ${count} bytes)`);
  return { shape, data: raw.subarray(offset, offset + count) };
}

export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readFile(path), path);
}

/** Class names of Fashion-MNIST, index = label. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Read Debian's Fashion-MNIST (apt-get install dataset-fashion-mnist): train (60,000) then test (10,000). */
export async function readFashionMnist(
  split: 'train' | 'test' | 'all',
  dir = FASHION_MNIST_DIR,
): Promise<{ images: Uint8Array; labels: Uint8Array; n: number; size: number }> {
  const parts = split === 'all' ? ['train', 't10k'] : [split === 'train' ? 'train' : 't10k'];
  const imgs: Uint8Array[] = [];
  const labs: Uint8Array[] = [];
  for (const p of parts) {
    let images: IdxArray;
    let labels: IdxArray;
    try {
      images = await readIdx(`${dir}/${p}-images-idx3-ubyte.gz`);
      labels = await readIdx(`${dir}/${p}-labels-idx1-ubyte.gz`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new UserError(`Fashion-MNIST not found in ${dir}: install it with 'apt-get install -y dataset-fashion-mnist'`);
      }
      throw e;
    }
    imgs.push(images.data);
    labs.push(labels.data);
  }
  const images = Buffer.concat(imgs);
  const labels = Buffer.concat(labs);
  return { images: new Uint8Array(images.buffer, images.byteOffset, images.length), labels: new Uint8Array(labels.buffer, labels.byteOffset, labels.length), n: labels.length, size: 28 };
}

import { mkdir, readFile, writeFile, rm, rename, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { UserError, throwIfAborted, type StepOptions } from './types.js';

/**
 * The embedded demo set: a few thousand labeled Fashion-MNIST images packed into one gzipped file
 * (`models/demo/fashion-mnist-sample.pack.gz`), unpacked to PNGs on first use.
 *
 * Pack format: gzip( one line of JSON header, '\n', labels (uint8 × n), pixels (uint8 × n×h×w×c) ).
 */
export interface PackHeader {
  format: 'clusterlens-pack';
  version: 1;
  n: number;
  width: number;
  height: number;
  channels: 1 | 3;
  classes: string[];
  source: string;
}

/** Root of the installed package (two levels above src/core or dist/core). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEMO_PACK = join(PACKAGE_ROOT, 'models', 'demo', 'fashion-mnist-sample.pack.gz');
/** The demo set's pretrained autoencoder (scripts/make-demo-checkpoint.ts). */
export const DEMO_CHECKPOINT = join(PACKAGE_ROOT, 'models', 'demo', 'checkpoint');
/** The settings the demo runs with; the checkpoint was trained with exactly these (plus the defaults). */
export const DEMO_SETTINGS = { size: 28, k: 10 } as const;

export function encodePack(header: Omit<PackHeader, 'format' | 'version'>, labels: Uint8Array, pixels: Uint8Array): Buffer {
  const full: PackHeader = { format: 'clusterlens-pack', version: 1, ...header };
  const expected = header.n * header.width * header.height * header.channels;
  if (labels.length !== header.n || pixels.length !== expected) throw new Error('pack: labels/pixels do not match the header');
  return gzipSync(Buffer.concat([Buffer.from(JSON.stringify(full) + '\n'), labels, pixels]), { level: 9 });
}

export function decodePack(buf: Uint8Array): { header: PackHeader; labels: Uint8Array; pixels: Uint8Array } {
  const raw = gunzipSync(buf);
  const nl = raw.indexOf(0x0a);
  if (nl < 0) throw new UserError('demo pack: missing header');
  const header = JSON.parse(raw.subarray(0, nl).toString('utf8')) as PackHeader;
  if (header.format !== 'clusterlens-pack' || header.version !== 1) throw new UserError('demo pack: unknown format');
  const labels = raw.subarray(nl + 1, nl + 1 + header.n);
  const px = header.n * header.width * header.height * header.channels;
  const pixels = raw.subarray(nl + 1 + header.n, nl + 1 + header.n + px);
  if (pixels.length !== px) throw new UserError('demo pack: truncated');
  return { header, labels, pixels };
}

/** Write n images (NHWC uint8) as PNG files `${names[i]}` under dir, a few at a time. */
export async function writePngs(
  dir: string,
  names: string[],
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  opts: StepOptions = {},
): Promise<void> {
  const per = width * height * channels;
  let done = 0;
  const total = names.length;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      throwIfAborted(opts.signal);
      const file = join(dir, names[i]);
      await mkdir(join(file, '..'), { recursive: true });
      await sharp(Buffer.from(pixels.buffer, pixels.byteOffset + i * per, per), { raw: { width, height, channels } })
        .png({ compressionLevel: 6 })
        .toFile(file);
      done++;
      if (done % 200 === 0 || done === total) opts.onProgress?.({ step: 'unpack', done, total });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

export function cacheDir(): string {
  const base = process.env.CLUSTERLENS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'clusterlens');
  return base;
}

export interface DemoFolder {
  /** Folder of PNG images, ready for `analyze`. */
  imagesDir: string;
  /** CSV with `path,label` of the true classes (for measuring cluster quality). */
  truthCsv: string;
  n: number;
  classes: string[];
  truth: Map<string, string>;
}

export function demoImageName(i: number): string {
  return `img-${String(i).padStart(5, '0')}.png`;
}

/** Unpack the embedded sample set (once) into the cache and return where it is. */
export async function ensureDemoFolder(opts: StepOptions & { limit?: number; dir?: string } = {}): Promise<DemoFolder> {
  if (!existsSync(DEMO_PACK)) throw new UserError(`demo pack missing: ${DEMO_PACK}`);
  const { header, labels, pixels } = decodePack(await readFile(DEMO_PACK));
  const n = Math.min(opts.limit ?? header.n, header.n);
  const root = opts.dir ?? join(cacheDir(), `demo-fashion-mnist-${n}`);
  const imagesDir = join(root, 'images');
  const truthCsv = join(root, 'truth.csv');
  const names = Array.from({ length: n }, (_, i) => demoImageName(i));
  const truth = new Map(names.map((name, i) => [name, header.classes[labels[i]]]));
  const marker = join(root, '.complete');
  if (!existsSync(marker) || (await stat(marker)).mtimeMs < (await stat(DEMO_PACK)).mtimeMs) {
    await rm(root, { recursive: true, force: true });
    const tmp = `${root}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(join(tmp, 'images'), { recursive: true });
    await writePngs(join(tmp, 'images'), names, pixels, header.width, header.height, header.channels, opts);
    const csv = ['path,label', ...names.map((name) => `${name},${csvCell(truth.get(name) ?? '')}`)].join('\n') + '\n';
    await writeFile(join(tmp, 'truth.csv'), csv);
    await writeFile(join(tmp, '.complete'), header.source + '\n');
    await mkdir(join(root, '..'), { recursive: true });
    await rename(tmp, root);
  }
  return { imagesDir, truthCsv, n, classes: header.classes, truth };
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

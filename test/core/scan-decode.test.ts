import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { scanFolder, type ScanResult } from '../../src/core/scan.js';
import { decodeImages, decodeOne, type DecodedSet } from '../../src/core/decode.js';
import { CancelledError, UserError, type Progress } from '../../src/core/types.js';
import { HOSTILE, encodeGray16Png, halves, makeHostileFolder, noiseRgb, type HostileFolder } from '../fixtures/hostile.js';

let tmp: string;
let root: string;
let hostile: HostileFolder;
let scan: ScanResult;
let decoded: DecodedSet;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cl-scan-decode-'));
  root = join(tmp, 'hostile');
  await mkdir(root);
  hostile = await makeHostileFolder(root);
  scan = await scanFolder(root);
  decoded = await decodeImages(root, scan.files.map((f) => f.path), { size: 16, color: 'auto' });
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Pixel (x, y) of image `i` in an NHWC set. */
function pixel(set: { size: number; channels: number; pixels: Uint8Array }, i: number, x: number, y: number): number[] {
  const o = ((i * set.size + y) * set.size + x) * set.channels;
  return Array.from(set.pixels.subarray(o, o + set.channels));
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

describe('scan + decode of the hostile folder', () => {
  it('decodes every good image and reports every bad one with a matching reason', () => {
    expect([...decoded.paths].sort()).toEqual([...hostile.good].sort());
    const reported = new Map([...scan.skipped, ...decoded.skipped].map((s) => [s.path, s.reason]));
    for (const b of hostile.bad) {
      expect(reported.get(b.path), b.path).toContain(b.reasonIncludes);
    }
    // Nothing else is reported, and nothing is reported twice.
    expect([...reported.keys()].sort()).toEqual(hostile.bad.map((b) => b.path).sort());
    expect(scan.skipped.length + decoded.skipped.length).toBe(reported.size);
    expect(decoded.pixels.length).toBe(decoded.paths.length * 16 * 16 * decoded.channels);
    expect(decoded.channels).toBe(3);
  });

  it('ignores hidden files and folders and non-image files entirely', () => {
    const everything = [...scan.files.map((f) => f.path), ...scan.skipped.map((s) => s.path)];
    for (const h of HOSTILE.hidden) expect(everything).not.toContain(h);
    expect(everything.some((p) => p.includes('.hidden'))).toBe(false);
    expect(everything).not.toContain('readme.txt');
  });

  it('lists files sorted by path with sizes, and decodes them in input order', async () => {
    const paths = scan.files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const photo = scan.files.find((f) => f.path === 'photo.JPG')!;
    expect(photo.bytes).toBe((await readFile(join(root, 'photo.JPG'))).length);
    expect(photo.mtimeMs).toBeGreaterThan(0);
    // Decode order follows the input, whatever the pool does: reversed input → reversed output, same pixels.
    const reversed = [...hostile.good].reverse();
    const again = await decodeImages(root, reversed, { size: 16, color: 'rgb', concurrency: 7 });
    expect(again.paths).toEqual(reversed);
    const per = 16 * 16 * 3;
    for (let i = 0; i < reversed.length; i++) {
      const j = decoded.paths.indexOf(reversed[i]);
      expect(Buffer.compare(again.pixels.subarray(i * per, (i + 1) * per), decoded.pixels.subarray(j * per, (j + 1) * per))).toBe(0);
    }
    expect(again.bytes[0]).toBe((await readFile(join(root, reversed[0]))).length);
  });

  it('follows a symlink to a file under its own path, with the same hash as the target', () => {
    const a = decoded.paths.indexOf(HOSTILE.plain);
    const b = decoded.paths.indexOf(HOSTILE.link);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(decoded.hashes[a]).toBe(decoded.hashes[b]);
    expect(decoded.hashes[a]).toMatch(/^[0-9a-f]{64}$/);
    // Every other file differs.
    const others = decoded.hashes.filter((_, i) => i !== b);
    expect(new Set(others).size).toBe(others.length);
  });

  it('rejects a PNG declaring 60000×60000 from its header, fast and without allocating', async () => {
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const r = await decodeImages(root, ['bomb.png'], { size: 16, color: 'rgb' });
    const ms = performance.now() - t0;
    expect(r.paths).toEqual([]);
    expect(r.pixels.length).toBe(0);
    expect(r.skipped[0].reason).toMatch(/image too large: 60000×60000 exceeds pixel limit/);
    expect(ms).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(500 * 1024 * 1024);
    // A lower limit rejects ordinary images too, with their size in the message.
    await expect(decodeOne(join(root, 'photo.JPG'), { size: 8, channels: 3, pixelLimit: 1000 })).rejects.toThrow(
      /64×64 exceeds pixel limit of 1,000 pixels/,
    );
  });
});

describe('pixel semantics', () => {
  it('applies EXIF orientation: stored left black / right white becomes top black / bottom white', async () => {
    const px = await decodeOne(join(root, HOSTILE.exif6), { size: 16, channels: 1, fit: 'fill' });
    const top = px.subarray(0, 16 * 6);
    const bottom = px.subarray(16 * 10);
    expect(mean(top)).toBeLessThan(20);
    expect(mean(bottom)).toBeGreaterThan(235);
    // Left and right columns look alike (no left/right split any more).
    const col = (x: number) => mean(Array.from({ length: 16 }, (_, y) => px[y * 16 + x]));
    expect(Math.abs(col(1) - col(14))).toBeLessThan(20);
    // Same answer through decodeImages with the default fit ('cover': centre crop of the portrait image).
    const i = decoded.paths.indexOf(HOSTILE.exif6);
    expect(pixel(decoded, i, 8, 1)[0]).toBeLessThan(30);
    expect(pixel(decoded, i, 8, 14)[0]).toBeGreaterThan(225);
  });

  it('flattens alpha onto white by default, or black when asked', async () => {
    const white = await decodeOne(join(root, HOSTILE.rgba), { size: 16, channels: 3, fit: 'fill' });
    expect(Array.from(white.subarray(0, 3))).toEqual([255, 255, 255]); // transparent left half
    expect(Array.from(white.subarray(15 * 3, 16 * 3))).toEqual([255, 0, 0]); // opaque red right half
    const buf = await readFile(join(root, HOSTILE.rgba));
    const black = await decodeOne(buf, { size: 16, channels: 3, fit: 'fill', background: 'black' });
    expect(Array.from(black.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it('converts CMYK to sRGB', async () => {
    const px = await decodeOne(join(root, HOSTILE.cmyk), { size: 4, channels: 3 });
    const [r, g, b] = Array.from(px.subarray(0, 3));
    expect(r).toBeGreaterThan(170);
    expect(g).toBeLessThan(80);
    expect(b).toBeLessThan(80);
  });

  it('turns 16-bit samples into sensible 8-bit values', async () => {
    const px = await decodeOne(join(root, HOSTILE.sixteen), { size: 8, channels: 1, fit: 'fill' });
    expect(Array.from(px.subarray(0, 8))).toEqual(Array(8).fill(255)); // 0xFFFF
    expect(Array.from(px.subarray(56, 64))).toEqual(Array(8).fill(64)); // 0x4040
  });

  it('decodes uncompressed 24-bit and 8-bit palette BMPs', async () => {
    const rgb = await decodeOne(join(root, HOSTILE.bmp24), { size: 6, channels: 3, fit: 'fill' });
    for (let y = 0; y < 6; y++) {
      expect(Array.from(rgb.subarray((y * 6) * 3, (y * 6 + 1) * 3))).toEqual([255, 0, 0]);
      expect(Array.from(rgb.subarray((y * 6 + 5) * 3, (y * 6 + 6) * 3))).toEqual([0, 255, 0]);
    }
    const gray = await decodeOne(join(root, HOSTILE.bmp8), { size: 8, channels: 1 });
    expect(Array.from(gray)).toEqual(Array.from({ length: 64 }, (_, i) => i * 4));
  });

  it('throws a UserError with the reason from decodeOne', async () => {
    await expect(decodeOne(join(root, 'notes.jpg'), { size: 8, channels: 3 })).rejects.toThrow(UserError);
    await expect(decodeOne(join(root, 'notes.jpg'), { size: 8, channels: 3 })).rejects.toThrow(/not an image/);
    await expect(decodeOne(Buffer.alloc(0), { size: 8, channels: 3 })).rejects.toThrow(/zero-byte file/);
    await expect(decodeOne(join(root, 'missing.png'), { size: 8, channels: 3 })).rejects.toThrow(UserError);
  });
});

describe("colour mode 'auto'", () => {
  let dir: string;
  const grayFiles = ['g-png.png', 'g-jpeg.jpg', 'g-16.png', 'g-rgb-encoded.webp'];
  beforeAll(async () => {
    dir = join(tmp, 'gray');
    await mkdir(dir);
    const g = Buffer.alloc(24 * 24);
    for (let i = 0; i < g.length; i++) g[i] = (i * 37) % 256;
    await writeFile(join(dir, 'g-png.png'), await sharp(g, { raw: { width: 24, height: 24, channels: 1 } }).png().toBuffer());
    // Grey content stored as a 3-channel JPEG: metadata says sRGB, the pixels say grey.
    const g3 = Buffer.alloc(24 * 24 * 3);
    for (let i = 0; i < 24 * 24; i++) g3.fill(g[i], i * 3, i * 3 + 3);
    await writeFile(join(dir, 'g-jpeg.jpg'), await sharp(g3, { raw: { width: 24, height: 24, channels: 3 } }).jpeg().toBuffer());
    await writeFile(join(dir, 'g-rgb-encoded.webp'), await sharp(g3, { raw: { width: 24, height: 24, channels: 3 } }).webp({ lossless: true }).toBuffer());
    await writeFile(join(dir, 'g-16.png'), encodeGray16Png(4, 4, Array.from({ length: 16 }, (_, i) => i * 4096)));
    await writeFile(join(dir, 'z-colour.png'), await sharp(halves(10, 10, [200, 30, 30], [30, 30, 200]), { raw: { width: 10, height: 10, channels: 3 } }).png().toBuffer());
  });

  it('gives 1 channel for an all-grey folder (same bytes as color gray), 3 for a mixed one', async () => {
    const auto = await decodeImages(dir, grayFiles, { size: 8, color: 'auto' });
    expect(auto.channels).toBe(1);
    expect(auto.paths).toEqual(grayFiles);
    expect(auto.pixels.length).toBe(4 * 64);
    const gray = await decodeImages(dir, grayFiles, { size: 8, color: 'gray' });
    expect(Buffer.compare(auto.pixels, gray.pixels)).toBe(0);

    // The colour image comes last in input order: grey images decoded before it are widened to R=G=B.
    const mixedFiles = [...grayFiles, 'z-colour.png'];
    const mixed = await decodeImages(dir, mixedFiles, { size: 8, color: 'auto', concurrency: 1 });
    expect(mixed.channels).toBe(3);
    expect(mixed.pixels.length).toBe(5 * 64 * 3);
    for (let p = 0; p < 64; p++) {
      expect(pixel(mixed, 0, p % 8, Math.floor(p / 8))).toEqual(Array(3).fill(gray.pixels[p]));
    }
    expect(pixel(mixed, 4, 0, 0)).toEqual([200, 30, 30]);
    const rgb = await decodeImages(dir, grayFiles, { size: 8, color: 'rgb' });
    expect(rgb.channels).toBe(3);
  });
});

describe('progress, abort and errors', () => {
  it('reports decode progress up to done = total', async () => {
    const events: Progress[] = [];
    await decodeImages(root, hostile.good, { size: 8, color: 'rgb', onProgress: (p) => events.push(p) });
    expect(events.every((e) => e.step === 'decode' && e.total === hostile.good.length)).toBe(true);
    expect(events.at(-1)!.done).toBe(hostile.good.length);
    const scanEvents: Progress[] = [];
    await scanFolder(root, { onProgress: (p) => scanEvents.push(p) });
    expect(scanEvents.at(-1)).toMatchObject({ step: 'scan', done: scan.files.length });
  });

  it('aborts with CancelledError, before and during the run', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(scanFolder(root, { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    await expect(decodeImages(root, hostile.good, { size: 8, color: 'rgb', signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);

    // Mid-run: 600 decodes queued, abort after the first progress event that shows work done.
    const many = Array.from({ length: 600 }, (_, i) => hostile.good[i % hostile.good.length]);
    const mid = new AbortController();
    let seen = 0;
    const run = decodeImages(root, many, {
      size: 8,
      color: 'rgb',
      concurrency: 2,
      signal: mid.signal,
      onProgress: (p) => {
        seen = p.done;
        if (p.done > 0) mid.abort();
      },
    });
    // Abort from outside too, in case progress is throttled past the whole run on a fast machine.
    setTimeout(() => mid.abort(), 50);
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBeLessThan(many.length);
  });

  it('rejects a missing root or a file as root with a one-line UserError', async () => {
    await expect(scanFolder(join(tmp, 'nope'))).rejects.toThrow(UserError);
    await expect(scanFolder(join(tmp, 'nope'))).rejects.toThrow(/folder not found/);
    await expect(scanFolder(join(root, HOSTILE.plain))).rejects.toThrow(/not a folder/);
  });
});

describe('symlinked folders', () => {
  it('follows a link to a folder outside the root, never loops, and skips links back inside', { timeout: 10_000 }, async () => {
    const outside = join(tmp, 'outside');
    const inner = join(tmp, 'linkroot');
    await mkdir(join(outside, 'sub'), { recursive: true });
    await mkdir(join(inner, 'real'), { recursive: true });
    const png = await sharp(noiseRgb(6, 6, 3), { raw: { width: 6, height: 6, channels: 3 } }).png().toBuffer();
    await writeFile(join(outside, 'o.png'), png);
    await writeFile(join(outside, 'sub', 's.PNG'), png);
    await writeFile(join(inner, 'real', 'r.png'), png);
    await symlink('..', join(outside, 'sub', 'up')); // loop inside the outside folder
    await symlink(inner, join(outside, 'back')); // back into the scanned root
    await symlink(outside, join(inner, 'ext'));
    await symlink(outside, join(inner, 'ext2')); // the same outside folder twice
    await symlink('real', join(inner, 'alias')); // a folder inside the root
    await symlink('self', join(inner, 'self')); // a link to itself

    const r = await scanFolder(inner);
    expect(r.files.map((f) => f.path)).toEqual(['ext/o.png', 'ext/sub/s.PNG', 'real/r.png']);
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.path, s.reason]));
    expect(reasons['ext/sub/up']).toMatch(/symlink loop/);
    expect(reasons['ext/back']).toMatch(/symlink loop/);
    expect(reasons['ext2']).toMatch(/already scanned as ext/);
    expect(reasons['alias']).toMatch(/inside the scanned folder \(real\)/);
    expect(reasons['self']).toMatch(/symlink loop/);
  });
});

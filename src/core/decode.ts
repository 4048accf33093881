/**
 * Step 'decode': read image files and turn them into small square uint8 images (NHWC) with sharp.
 *
 * Per image: EXIF orientation applied; alpha flattened onto a background (white by default); any bit depth
 * (16-bit included) and colour space (CMYK, palette, grey, ...) converted to 8-bit sRGB; resized to size×size
 * with `fit` ('cover' = centre crop by default, so aspect ratio is kept and no letterbox bars are learned);
 * GIF/TIFF: the first frame/page only. BMP is decoded here (sharp has no BMP loader): uncompressed 1/4/8-bit
 * palette, 16-bit, 24-bit and 32-bit (also with bit-field masks); RLE-compressed BMPs are skipped with a reason.
 *
 * Grey conversion (color 'gray', or 'auto' when every image is grey) is done on the decoded RGB with Rec. 601 luma,
 * so a grey image gives the same bytes in 'auto' and 'gray' mode, and decodeOne matches decodeImages.
 *
 * Bad files never stop the step: they go to `skipped` with a one-line reason.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { SkippedFile } from './scan.js';
import { CancelledError, UserError, throwIfAborted, type StepOptions, throttledProgress } from './types.js';

export type Fit = 'cover' | 'contain' | 'fill';
export type ColorMode = 'auto' | 'rgb' | 'gray';
export type Background = 'white' | 'black';

export interface DecodeOptions extends StepOptions {
  /** Output width and height in pixels (default 32). */
  size?: number;
  /** 'auto' = 1 channel when every decoded image is grey (checked on the pixels), else 3. Default 'auto'. */
  color?: ColorMode;
  /** How to make the image square: 'cover' centre crop (default), 'contain' letterbox, 'fill' stretch. */
  fit?: Fit;
  /** Colour that transparent pixels (and 'contain' bars) become. Default 'white'. */
  background?: Background;
  /** Largest accepted width×height, checked from the header before decoding (default 100 megapixels). */
  pixelLimit?: number;
  /** How many images are decoded at once (default: 4 per core, at least 4, at most 16; see DEFAULT_CONCURRENCY). */
  concurrency?: number;
}

export interface DecodedSet {
  size: number;
  channels: 1 | 3;
  /** N×size×size×channels, NHWC, only the successfully decoded images, in input order. */
  pixels: Uint8Array;
  /** The N decoded paths (relative). */
  paths: string[];
  /** sha256 hex of each decoded file's bytes. */
  hashes: string[];
  /** File sizes in bytes. */
  bytes: number[];
  skipped: SkippedFile[];
}

export interface DecodeOneOptions {
  size: number;
  channels: 1 | 3;
  fit?: Fit;
  background?: Background;
  pixelLimit?: number;
}

export const DEFAULT_SIZE = 32;
export const DEFAULT_PIXEL_LIMIT = 100_000_000;
export const DEFAULT_FIT: Fit = 'cover';
export const DEFAULT_BACKGROUND: Background = 'white';
/** Largest difference between R, G and B for which a pixel still counts as grey (JPEG rounding noise). */
export const GRAY_TOLERANCE = 3;

const PROGRESS_INTERVAL_MS = 100;

/**
 * Images in flight at once. Measured on 2 cores with 2,000 28×28 PNGs → 32×32 (sharp.concurrency 1):
 * pool 1 ≈ 970 img/s, 2 ≈ 1,030, 4 ≈ 1,150, 8 ≈ 1,200, 16 ≈ 1,250 (noisy, shared machine). More images in
 * flight than cores hides the per-image JS and file-reading latency; beyond 4 per core it gains nothing.
 */
export const DEFAULT_CONCURRENCY = Math.min(16, Math.max(4, 4 * availableParallelism()));

/**
 * libvips threads per image. Output images are tiny (e.g. 28×28 → 32×32), so per-image threading only adds
 * overhead; parallelism comes from decoding several images at once instead (see decodeImages' pool).
 */
sharp.concurrency(1);
// The libvips operation cache holds references to input buffers; with thousands of one-shot images it only costs memory.
sharp.cache(false);

/** A decode failure with a one-line, user-facing reason. */
class DecodeFailure extends Error {}

/** A multi-line libvips message as one line ("Input buffer has corrupt header:\nvipspng: ..." → one line). */
function firstLine(s: string): string {
  const lines = [...new Set(s.split('\n').map((l) => l.trim()).filter((l) => l !== ''))];
  const one = lines.join(' ');
  return one.length > 200 ? `${one.slice(0, 197)}...` : one;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function tooLarge(width: number, height: number, limit: number): DecodeFailure {
  return new DecodeFailure(`image too large: ${width}×${height} exceeds pixel limit of ${fmt(limit)} pixels`);
}

// ---------------------------------------------------------------------------------------------------------------
// BMP (sharp/libvips prebuilt binaries have no BMP loader)

interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

function isBmp(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d; // 'BM'
}

function maskInfo(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return { shift, max };
}

/** Decode an uncompressed BMP to RGBA. Throws DecodeFailure with a reason. */
export function decodeBmp(buf: Buffer, pixelLimit = DEFAULT_PIXEL_LIMIT): RawImage {
  const bad = (why: string) => new DecodeFailure(`corrupt or truncated image: BMP ${why}`);
  if (buf.length < 26) throw bad('header is truncated');
  const dataOffset = buf.readUInt32LE(10);
  const dib = buf.readUInt32LE(14);
  let width: number;
  let height: number;
  let bpp: number;
  let compression = 0;
  let colorsUsed = 0;
  let paletteEntry = 4;
  if (dib === 12) {
    width = buf.readUInt16LE(18);
    height = buf.readInt16LE(20);
    bpp = buf.readUInt16LE(24);
    paletteEntry = 3;
  } else if (dib >= 40) {
    if (buf.length < 14 + 40) throw bad('header is truncated');
    width = buf.readInt32LE(18);
    height = buf.readInt32LE(22);
    bpp = buf.readUInt16LE(28);
    compression = buf.readUInt32LE(30);
    colorsUsed = buf.readUInt32LE(46);
  } else {
    throw bad(`header size ${dib} is not valid`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) throw bad(`size ${width}×${height} is not valid`);
  if (width * height > pixelLimit) throw tooLarge(width, height, pixelLimit);
  if (compression === 1 || compression === 2) throw new DecodeFailure('not supported: RLE-compressed BMP');
  if (compression === 4 || compression === 5) throw new DecodeFailure('not supported: BMP with embedded JPEG/PNG');
  if (compression !== 0 && compression !== 3 && compression !== 6) throw bad(`compression ${compression} is not valid`);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw bad(`bit depth ${bpp} is not supported`);

  // Bit-field masks: defaults, or read after the 40-byte header (or inside a V2+ header).
  let masks = bpp === 16 ? [0x7c00, 0x03e0, 0x001f, 0] : [0x00ff0000, 0x0000ff00, 0x000000ff, 0];
  if (compression === 3 || compression === 6) {
    if (bpp !== 16 && bpp !== 32) throw bad(`bit fields with ${bpp}-bit pixels`);
    const withAlpha = compression === 6 || dib >= 56;
    if (buf.length < 54 + (withAlpha ? 16 : 12)) throw bad('header is truncated');
    masks = [buf.readUInt32LE(54), buf.readUInt32LE(58), buf.readUInt32LE(62), withAlpha ? buf.readUInt32LE(66) : 0];
  }

  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const count = colorsUsed > 0 && colorsUsed <= 1 << bpp ? colorsUsed : 1 << bpp;
    const start = 14 + dib;
    if (start + count * paletteEntry > buf.length) throw bad('palette is truncated');
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count; i++) {
      const o = start + i * paletteEntry;
      palette[i * 3] = buf[o + 2];
      palette[i * 3 + 1] = buf[o + 1];
      palette[i * 3 + 2] = buf[o];
    }
  }

  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + stride * height > buf.length) throw bad('pixel data is truncated');

  const out = Buffer.alloc(width * height * 4);
  const [mr, mg, mb, ma] = masks.map(maskInfo);
  const scale = (v: number, m: { max: number }) => (m.max === 255 ? v : Math.round((v * 255) / m.max));
  let anyAlpha = false;
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 4;
    for (let x = 0; x < width; x++, o += 4) {
      if (palette) {
        const bit = x * bpp;
        const byte = buf[row + (bit >> 3)];
        const idx = bpp === 8 ? byte : (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        out[o] = palette[idx * 3];
        out[o + 1] = palette[idx * 3 + 1];
        out[o + 2] = palette[idx * 3 + 2];
        out[o + 3] = 255;
      } else if (bpp === 24) {
        const p = row + x * 3;
        out[o] = buf[p + 2];
        out[o + 1] = buf[p + 1];
        out[o + 2] = buf[p];
        out[o + 3] = 255;
      } else {
        const v = bpp === 16 ? buf.readUInt16LE(row + x * 2) : buf.readUInt32LE(row + x * 4);
        out[o] = mr.max ? scale(((v & masks[0]) >>> 0) >>> mr.shift, mr) : 0;
        out[o + 1] = mg.max ? scale(((v & masks[1]) >>> 0) >>> mg.shift, mg) : 0;
        out[o + 2] = mb.max ? scale(((v & masks[2]) >>> 0) >>> mb.shift, mb) : 0;
        if (ma.max) {
          const a = scale(((v & masks[3]) >>> 0) >>> ma.shift, ma);
          out[o + 3] = a;
          if (a !== 0) anyAlpha = true;
        } else if (bpp === 32 && compression === 0) {
          // 32-bit BI_RGB: the 4th byte is officially unused, but some writers store alpha there.
          const a = buf[row + x * 4 + 3];
          out[o + 3] = a;
          if (a !== 0) anyAlpha = true;
        } else {
          out[o + 3] = 255;
        }
      }
    }
  }
  // An alpha channel that is 0 everywhere means "no alpha" (the common case for 32-bit BMPs).
  if (!anyAlpha && !palette && bpp !== 24) for (let i = 3; i < out.length; i += 4) out[i] = 255;
  return { data: out, width, height };
}

// ---------------------------------------------------------------------------------------------------------------
// One image

interface ResolvedOptions {
  size: number;
  fit: Fit;
  background: Background;
  pixelLimit: number;
}

function sharpReason(err: unknown): string {
  const msg = firstLine(err instanceof Error ? err.message : String(err));
  if (/unsupported image format/i.test(msg)) return 'not an image (unsupported format)';
  if (/buffer is empty/i.test(msg)) return 'zero-byte file';
  return `corrupt or truncated image: ${msg}`;
}

/** Decode one encoded image to size×size×3 sRGB uint8. Throws DecodeFailure with a reason. */
async function decodeToRgb(buf: Buffer, o: ResolvedOptions): Promise<Buffer> {
  if (buf.length === 0) throw new DecodeFailure('zero-byte file');
  let img: Sharp;
  if (isBmp(buf)) {
    const raw = decodeBmp(buf, o.pixelLimit);
    img = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 4 }, limitInputPixels: o.pixelLimit });
  } else {
    img = sharp(buf, { failOn: 'truncated', limitInputPixels: o.pixelLimit, animated: false });
  }
  const bg = o.background === 'white' ? { r: 255, g: 255, b: 255, alpha: 1 } : { r: 0, g: 0, b: 0, alpha: 1 };
  try {
    const { data, info } = await img
      .rotate()
      .flatten({ background: bg })
      .resize(o.size, o.size, { fit: o.fit, position: 'centre', background: bg })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== o.size || info.height !== o.size || info.channels !== 3) {
      throw new DecodeFailure(`corrupt or truncated image: unexpected decoded shape ${info.width}×${info.height}×${info.channels}`);
    }
    return data;
  } catch (err) {
    if (err instanceof DecodeFailure) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    if (/exceeds pixel limit/i.test(msg)) {
      // Read the declared size from the header only (no pixel data is decoded) for a helpful message.
      let w = 0;
      let h = 0;
      try {
        const meta = await sharp(buf, { limitInputPixels: false }).metadata();
        w = meta.width ?? 0;
        h = meta.height ?? 0;
      } catch {
        /* keep 0×0 */
      }
      throw w > 0 && h > 0
        ? tooLarge(w, h, o.pixelLimit)
        : new DecodeFailure(`image too large: exceeds pixel limit of ${fmt(o.pixelLimit)} pixels`);
    }
    throw new DecodeFailure(sharpReason(err));
  }
}

function isGrayRgb(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i];
    const g = rgb[i + 1];
    const b = rgb[i + 2];
    if (Math.abs(r - g) > GRAY_TOLERANCE || Math.abs(g - b) > GRAY_TOLERANCE || Math.abs(r - b) > GRAY_TOLERANCE) {
      return false;
    }
  }
  return true;
}

/** Rec. 601 luma, integer arithmetic; exact for r == g == b. */
function rgbToGrayInto(rgb: Uint8Array, out: Uint8Array, offset: number): void {
  for (let i = 0, j = offset; i < rgb.length; i += 3, j++) {
    out[j] = (rgb[i] * 19595 + rgb[i + 1] * 38470 + rgb[i + 2] * 7471 + 32768) >>> 16;
  }
}

function resolveOptions(o: { size?: number; fit?: Fit; background?: Background; pixelLimit?: number }): ResolvedOptions {
  const size = o.size ?? DEFAULT_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new UserError(`image size must be an integer from 1 to 4096, got ${size}`);
  const fit = o.fit ?? DEFAULT_FIT;
  if (!['cover', 'contain', 'fill'].includes(fit)) throw new UserError(`fit must be cover, contain or fill, got ${fit}`);
  return {
    size,
    fit,
    background: o.background ?? DEFAULT_BACKGROUND,
    pixelLimit: o.pixelLimit ?? DEFAULT_PIXEL_LIMIT,
  };
}

/** Decode a single image (e.g. a query image) to size×size×channels uint8; throws UserError with the reason. */
export async function decodeOne(input: string | Buffer, opts: DecodeOneOptions): Promise<Uint8Array> {
  const o = resolveOptions(opts);
  const label = typeof input === 'string' ? `cannot decode ${input}` : 'cannot decode image';
  let buf: Buffer;
  if (typeof input === 'string') {
    try {
      buf = await readFile(input);
    } catch (err) {
      throw new UserError(`cannot read ${input}: ${firstLine(err instanceof Error ? err.message : String(err))}`);
    }
  } else {
    buf = input;
  }
  let rgb: Buffer;
  try {
    rgb = await decodeToRgb(buf, o);
  } catch (err) {
    throw new UserError(`${label}: ${err instanceof DecodeFailure ? err.message : sharpReason(err)}`);
  }
  if (opts.channels === 3) return new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length);
  const out = new Uint8Array(o.size * o.size);
  rgbToGrayInto(rgb, out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Many images

/**
 * Decode `files` (paths relative to `root`) in parallel. Images that fail are listed in `skipped`, the rest are
 * returned in input order. Progress step 'decode'; abort → CancelledError.
 */
export async function decodeImages(root: string, files: string[], opts: DecodeOptions = {}): Promise<DecodedSet> {
  const { signal, onProgress } = opts;
  const o = resolveOptions(opts);
  const color = opts.color ?? 'auto';
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? DEFAULT_CONCURRENCY));
  throwIfAborted(signal);

  const n = files.length;
  const px = o.size * o.size;
  let channels: 1 | 3 = color === 'rgb' ? 3 : 1;
  let pixels = new Uint8Array(n * px * channels);
  const ok = new Uint8Array(n);
  const hashes: string[] = new Array<string>(n);
  const bytes: number[] = new Array<number>(n).fill(0);
  const reasons: (string | undefined)[] = new Array<string | undefined>(n);

  let done = 0;
  const progress = throttledProgress(onProgress, () => ({ step: 'decode', done, total: n }), PROGRESS_INTERVAL_MS);
  progress(true);

  /** 'auto' found its first colour image: widen every grey image decoded so far to 3 channels. */
  const widen = () => {
    const wide = new Uint8Array(n * px * 3);
    for (let i = 0; i < n; i++) {
      if (!ok[i]) continue;
      for (let p = 0, s = i * px, d = i * px * 3; p < px; p++, s++, d += 3) {
        const v = pixels[s];
        wide[d] = v;
        wide[d + 1] = v;
        wide[d + 2] = v;
      }
    }
    pixels = wide;
    channels = 3;
  };

  const store = (i: number, rgb: Uint8Array) => {
    if (color === 'auto' && channels === 1 && !isGrayRgb(rgb)) widen();
    if (channels === 3) pixels.set(rgb, i * px * 3);
    else rgbToGrayInto(rgb, pixels, i * px);
    ok[i] = 1;
  };

  let next = 0;
  let aborted = false;
  const worker = async () => {
    while (next < n && !aborted) {
      if (signal?.aborted) {
        aborted = true;
        break;
      }
      const i = next++;
      const rel = files[i];
      let buf: Buffer;
      try {
        buf = await readFile(join(root, rel));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        reasons[i] = `cannot read file: ${e.code ? `${e.code} ` : ''}${firstLine(e.message ?? String(err))}`;
        done++;
        progress();
        continue;
      }
      try {
        const rgb = await decodeToRgb(buf, o);
        hashes[i] = createHash('sha256').update(buf).digest('hex');
        bytes[i] = buf.length;
        store(i, rgb);
      } catch (err) {
        reasons[i] = err instanceof DecodeFailure ? err.message : sharpReason(err);
      }
      done++;
      progress();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, n)) }, worker));
  if (aborted || signal?.aborted) throw new CancelledError();

  // Compact: keep only the decoded images, in input order.
  const per = px * channels;
  const paths: string[] = [];
  const outHashes: string[] = [];
  const outBytes: number[] = [];
  const skipped: SkippedFile[] = [];
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (ok[i]) {
      if (k !== i) pixels.copyWithin(k * per, i * per, (i + 1) * per);
      paths.push(files[i]);
      outHashes.push(hashes[i]);
      outBytes.push(bytes[i]);
      k++;
    } else {
      skipped.push({ path: files[i], reason: reasons[i] ?? 'not decoded' });
    }
  }
  const out = k === n ? pixels : pixels.slice(0, k * per);
  progress(true);
  return { size: o.size, channels, pixels: out, paths, hashes: outHashes, bytes: outBytes, skipped };
}

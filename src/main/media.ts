/**
 * What both transports (the HTTP server and Electron's custom protocol) serve besides the API: the renderer's
 * static files by type, and images of the open project — as they are when a browser can show them, converted
 * to PNG otherwise, or as cached thumbnails.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp from 'sharp';

/** Content types of the renderer's static files. */
export const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Image files that may be served: those the scan reads. */
export const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

/** Formats browsers do not show: sent converted to PNG. */
const CONVERT_TO_PNG = new Set(['.tif', '.tiff', '.bmp']);

/** Longest side of a thumbnail, in pixels. */
export const THUMB_SIZE = 96;
export const THUMB_CACHE_ENTRIES = 5000;

/** A small LRU (a Map keeps insertion order). */
export class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

/** Reads images for display, keeping recent thumbnails in memory (keyed by path, mtime and size). */
export class ImageReader {
  private readonly thumbs = new Lru<Buffer>(THUMB_CACHE_ENTRIES);

  /** The image at `file` (already path-guarded) for display; undefined when it is not an image type. Throws when unreadable. */
  async read(file: string, thumb: boolean): Promise<{ body: Buffer; type: string } | undefined> {
    const ext = extname(file).toLowerCase();
    const type = IMAGE_TYPES[ext];
    if (!type) return undefined;
    if (thumb) {
      const st = await stat(file);
      const key = `${file}\0${st.mtimeMs}\0${st.size}`;
      let t = this.thumbs.get(key);
      if (!t) {
        t = await sharp(file, { failOn: 'none' })
          .rotate()
          .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0 } })
          .png()
          .toBuffer();
        this.thumbs.set(key, t);
      }
      return { body: t, type: 'image/png' };
    }
    if (CONVERT_TO_PNG.has(ext)) return { body: await sharp(file, { failOn: 'none' }).rotate().png().toBuffer(), type: 'image/png' };
    return { body: await readFile(file), type };
  }
}

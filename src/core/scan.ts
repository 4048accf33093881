/**
 * Step 'scan': list the image files under a folder, recursively.
 *
 * Rules (see also the tests in test/core/scan-decode.test.ts):
 * - Image = extension jpg, jpeg, png, webp, gif, bmp, tif or tiff, in any letter case. Other files are ignored silently.
 * - Hidden files and folders (name starting with '.') are ignored silently.
 * - Symlinks to files are followed and listed under the symlink's own path (so a symlink to another image of the
 *   same folder appears twice, with the same content hash; the pipeline reports it as a duplicate).
 * - Symlinks to folders are followed when they point outside the scanned folder. A symlink to a folder inside the
 *   scanned folder is not followed (its images are already listed under their real path) and is recorded in
 *   `skipped`; a symlink to the folder itself or to one of its ancestors is recorded as a "symlink loop".
 *   Every folder (by device + inode) is read at most once, so scanning always terminates.
 * - Broken symlinks and unreadable files or folders are recorded in `skipped` with the reason.
 * - `files` is sorted by path (plain code-unit order, independent of locale), paths relative to the root with '/'.
 */
import { constants, type Stats } from 'node:fs';
import { access, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { UserError, throwIfAborted, type StepOptions, throttledProgress } from './types.js';

export interface ScannedFile {
  /** Relative to the scanned root, with '/' separators. */
  path: string;
  bytes: number;
  mtimeMs: number;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ScanResult {
  files: ScannedFile[];
  skipped: SkippedFile[];
}

export const IMAGE_EXTENSIONS: readonly string[] = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'bmp', 'tif', 'tiff'];
const IMAGE_EXT = new Set(IMAGE_EXTENSIONS);

/** True when the file name has one of the image extensions (any letter case). */
export function isImageName(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXT.has(name.slice(dot + 1).toLowerCase());
}

/** How many stat calls run at once inside one folder. */
const STAT_CONCURRENCY = 32;
/** Emit a progress event at most this often (ms). */
const PROGRESS_INTERVAL_MS = 100;

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const map: Record<string, string> = {
      EACCES: 'permission denied',
      EPERM: 'permission denied',
      ENOENT: 'no such file or directory',
      ELOOP: 'too many levels of symbolic links',
      EIO: 'input/output error',
    };
    return `${map[e.code] ?? e.message} (${e.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

function dirKey(s: Stats): string {
  return `${s.dev}:${s.ino}`;
}

/** True when `child` is `parent` or lies inside it (both absolute real paths). */
function isInside(child: string, parent: string): boolean {
  if (child === parent) return true;
  const p = parent.endsWith(sep) ? parent : parent + sep;
  return child.startsWith(p);
}

export async function scanFolder(root: string, opts: StepOptions = {}): Promise<ScanResult> {
  const { signal, onProgress } = opts;
  throwIfAborted(signal);

  let rootStat: Stats;
  try {
    rootStat = await stat(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UserError(`folder not found: ${root}`);
    throw new UserError(`cannot open folder ${root}: ${errText(err)}`);
  }
  if (!rootStat.isDirectory()) throw new UserError(`not a folder: ${root}`);
  const realRoot = await realpath(root);

  const files: ScannedFile[] = [];
  const skipped: SkippedFile[] = [];
  /** Folders already read, by dev:ino → the relative path under which they were read. */
  const visited = new Map<string, string>();
  visited.set(dirKey(rootStat), '');

  const progress = throttledProgress(onProgress, () => ({ step: 'scan', done: files.length, total: 0, message: `${files.length} images found` }), PROGRESS_INTERVAL_MS);
  progress(true);

  const relOf = (dirRel: string, name: string) => (dirRel ? `${dirRel}/${name}` : name);

  /**
   * Read one folder. `abs` is the path to read through (may contain symlinks), `real` its real path,
   * `rel` its path relative to the root, `ancestors` the real paths of the folders above it (for loop detection).
   */
  const walk = async (abs: string, real: string, rel: string, ancestors: string[]): Promise<void> => {
    throwIfAborted(signal);
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      skipped.push({ path: rel || '.', reason: `cannot read folder: ${errText(err)}` });
      return;
    }
    // Sort by name so the walk order (and which of two symlinks to the same outside folder wins) is deterministic.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    const subdirs: { abs: string; rel: string; viaLink: boolean }[] = [];
    const candidates: { abs: string; rel: string; isLink: boolean }[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const childAbs = join(abs, e.name);
      const childRel = relOf(rel, e.name);
      if (e.isDirectory()) subdirs.push({ abs: childAbs, rel: childRel, viaLink: false });
      else if (e.isSymbolicLink()) candidates.push({ abs: childAbs, rel: childRel, isLink: true });
      else if (e.isFile() && isImageName(e.name)) candidates.push({ abs: childAbs, rel: childRel, isLink: false });
      // Sockets, FIFOs, devices and non-image files are ignored.
    }

    // stat the candidates (files and symlinks) a few at a time.
    for (let i = 0; i < candidates.length; i += STAT_CONCURRENCY) {
      throwIfAborted(signal);
      const batch = candidates.slice(i, i + STAT_CONCURRENCY);
      const results = await Promise.all(
        batch.map(async (c) => {
          try {
            const s = await stat(c.abs); // follows symlinks
            if (s.isFile()) await access(c.abs, constants.R_OK);
            return { c, s, err: undefined };
          } catch (err) {
            return { c, s: undefined, err };
          }
        }),
      );
      for (const { c, s, err } of results) {
        const image = isImageName(c.rel);
        if (err !== undefined || !s) {
          const code = (err as NodeJS.ErrnoException).code;
          if (c.isLink && code === 'ENOENT') {
            if (image) skipped.push({ path: c.rel, reason: 'broken symlink (target does not exist)' });
          } else if (c.isLink && code === 'ELOOP') {
            skipped.push({ path: c.rel, reason: 'symlink loop (too many levels of symbolic links)' });
          } else if (image || !c.isLink) {
            skipped.push({ path: c.rel, reason: `cannot read file: ${errText(err)}` });
          }
          continue;
        }
        if (s.isDirectory()) {
          subdirs.push({ abs: c.abs, rel: c.rel, viaLink: true });
        } else if (s.isFile() && image) {
          files.push({ path: c.rel, bytes: s.size, mtimeMs: s.mtimeMs });
        }
      }
      progress();
    }

    const nextAncestors = [...ancestors, real];
    for (const d of subdirs) {
      throwIfAborted(signal);
      let s: Stats;
      let dReal: string;
      try {
        s = await stat(d.abs);
        dReal = await realpath(d.abs);
      } catch (err) {
        skipped.push({ path: d.rel, reason: `cannot read folder: ${errText(err)}` });
        continue;
      }
      if (d.viaLink) {
        if (nextAncestors.some((a) => isInside(a, dReal))) {
          skipped.push({ path: d.rel, reason: 'symlink loop (points to a folder that contains it)' });
          continue;
        }
        if (isInside(dReal, realRoot)) {
          const target = relative(realRoot, dReal).split(sep).join('/');
          skipped.push({ path: d.rel, reason: `symlink to a folder inside the scanned folder (${target}), not followed` });
          continue;
        }
      }
      const key = dirKey(s);
      const seen = visited.get(key);
      if (seen !== undefined) {
        skipped.push({ path: d.rel, reason: `folder already scanned as ${seen || '.'}` });
        continue;
      }
      visited.set(key, d.rel);
      await walk(d.abs, dReal, d.rel, nextAncestors);
    }
  };

  await walk(root, realRoot, '', []);
  throwIfAborted(signal);

  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  progress(true);
  return { files, skipped };
}

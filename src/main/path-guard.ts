/**
 * The one check between a path a UI asks for and a file on disk: `resolveInside(root, rel)` returns the real
 * absolute path of `rel` only when it is a regular file inside `root` after every symlink is resolved.
 *
 * Used by the HTTP server (`/image`, static renderer files) and by the Electron custom protocol.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

export type PathGuardCode = 'forbidden' | 'not_found';

/** Why a path was refused: `forbidden` (outside the root, malformed) or `not_found` (no such file inside). */
export class PathGuardError extends Error {
  readonly code: PathGuardCode;
  /** HTTP status that fits: 403 or 404. */
  readonly status: 403 | 404;

  constructor(code: PathGuardCode, message: string) {
    super(message);
    this.name = 'PathGuardError';
    this.code = code;
    this.status = code === 'forbidden' ? 403 : 404;
  }
}

function isWindowsAbsolute(p: string): boolean {
  return /^[a-zA-Z]:/.test(p) || p.startsWith('\\\\');
}

/** True when `child` is `parent` itself or lies below it (both absolute and normalised). */
function isWithin(parent: string, child: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..' + sep) && r !== '..' && !isAbsolute(r));
}

/**
 * Resolve `rel` (a relative path with `/` separators, as the project stores it) inside `root`.
 * Refuses (PathGuardError 'forbidden') an empty path, a NUL byte, an absolute path, a `..` segment, and any path
 * whose real location (symlinks resolved) is outside the real root; a missing file, or one that is not a regular
 * file, is 'not_found'. Returns the real absolute path.
 */
export async function resolveInside(root: string, rel: string): Promise<string> {
  if (typeof rel !== 'string' || rel.length === 0) throw new PathGuardError('forbidden', 'empty path');
  if (rel.includes('\0')) throw new PathGuardError('forbidden', 'path contains a NUL byte');
  if (rel.length > 4096) throw new PathGuardError('forbidden', 'path too long');
  if (isAbsolute(rel) || rel.startsWith('/') || rel.startsWith('\\') || isWindowsAbsolute(rel)) {
    throw new PathGuardError('forbidden', 'absolute paths are not allowed');
  }
  const segments = rel.split(/[\\/]/);
  if (segments.some((s) => s === '..')) throw new PathGuardError('forbidden', 'path leaves the folder (..)');

  let realRoot: string;
  try {
    realRoot = await realpath(resolve(root));
  } catch {
    throw new PathGuardError('not_found', 'the folder does not exist');
  }
  const candidate = resolve(realRoot, rel);
  // Lexical check first (cheap, and the answer does not depend on whether the file exists).
  if (!isWithin(realRoot, candidate) || candidate === realRoot) throw new PathGuardError('forbidden', 'path leaves the folder');

  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new PathGuardError('not_found', 'file not found');
  }
  if (!isWithin(realRoot, real) || real === realRoot) throw new PathGuardError('forbidden', 'path leads outside the folder (symbolic link)');
  let st;
  try {
    st = await stat(real);
  } catch {
    throw new PathGuardError('not_found', 'file not found');
  }
  if (!st.isFile()) throw new PathGuardError('not_found', 'not a file');
  return real;
}

/**
 * Durable file writes for the project store.
 *
 * Every file the project keeps is replaced atomically: the new content goes to a temp file in the same
 * directory (unique per call), is fsync'd, renamed over the target, and the directory is fsync'd so the
 * rename itself survives a power loss. A reader therefore sees either the old or the new file, never a mix.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { UserError } from './types.js';

/** What writeFileAtomic accepts: one string or byte array, or several byte chunks written in order (no concatenation). */
export type AtomicData = string | Uint8Array | readonly Uint8Array[];

let tempCounter = 0;

/** A temp name next to `path`, unique per call (pid + counter + random), hidden, ending in .tmp. */
export function tempPathFor(path: string): string {
  tempCounter = (tempCounter + 1) % Number.MAX_SAFE_INTEGER;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${tempCounter}.${randomBytes(4).toString('hex')}.tmp`);
}

/** fsync a directory so that a rename/creation inside it is durable. Platforms that cannot open a directory (Windows) are skipped. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
  } catch (e) {
    if (isCode(e, 'EISDIR', 'EPERM', 'EACCES', 'ENOTSUP')) return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    // Some filesystems/platforms refuse fsync on a directory; the rename is still atomic there.
    if (!isCode(e, 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP', 'EISDIR')) throw e;
  } finally {
    await fh.close();
  }
}

/**
 * Write `path` atomically from a producer that receives a writer. Used by writeFileAtomic and by streaming
 * writers (CSV): nothing is visible at `path` until every chunk was written and fsync'd.
 */
export async function writeFileAtomicWith(path: string, produce: (write: (chunk: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(path);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (e) {
    if (isCode(e, 'ENOENT')) throw new UserError(`cannot write ${path}: the folder ${dirname(path)} does not exist`);
    if (isCode(e, 'EACCES', 'EPERM', 'EROFS')) throw new UserError(`cannot write ${path}: permission denied`);
    throw e;
  }
  let renamed = false;
  try {
    const handle = fh;
    await produce(async (chunk) => {
      if (typeof chunk === 'string') await handle.writeFile(chunk, 'utf8');
      else if (chunk.byteLength > 0) await handle.writeFile(chunk);
    });
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    renamed = true;
    await fsyncDir(dirname(path));
  } finally {
    if (fh) await fh.close().catch(() => {});
    if (!renamed) await unlink(tmp).catch(() => {});
  }
}

/** Replace `path` atomically with `data` (temp file in the same folder, write, fsync, rename, fsync the folder). */
export async function writeFileAtomic(path: string, data: AtomicData): Promise<void> {
  await writeFileAtomicWith(path, async (write) => {
    if (typeof data === 'string' || data instanceof Uint8Array) await write(data);
    else for (const chunk of data) await write(chunk);
  });
}

/** Write `value` as pretty JSON (2-space indent, trailing newline), atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Read and parse a JSON file. A missing, unreadable, non-JSON or (with `schema`) invalid file gives a one-line
 * UserError that names the file. With a zod schema the result is the schema's parsed output.
 */
export async function readJson<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>>;
export async function readJson<T = unknown>(path: string): Promise<T>;
export async function readJson(path: string, schema?: z.ZodType): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (isCode(e, 'ENOENT')) throw new UserError(`file not found: ${path}`);
    if (isCode(e, 'EISDIR')) throw new UserError(`expected a file but found a folder: ${path}`);
    if (isCode(e, 'EACCES', 'EPERM')) throw new UserError(`cannot read ${path}: permission denied`);
    throw e;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = text.trim() === '' ? 'the file is empty' : (e as Error).message;
    throw new UserError(`${path} is corrupt (not valid JSON: ${why})`);
  }
  if (!schema) return value;
  const r = schema.safeParse(value);
  if (!r.success) throw new UserError(`${path} is corrupt or from another version: ${describeIssues(r.error.issues)}`);
  return r.data;
}

/** zod issues as one short line: "images.3.path: expected string; version: ..." (at most 3). */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const parts = issues.slice(0, 3).map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ` : '') + i.message);
  if (issues.length > 3) parts.push(`and ${issues.length - 3} more problem(s)`);
  return parts.join('; ');
}

/** True when `e` is a Node system error with one of the given codes. */
export function isCode(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && codes.includes(String((e as { code: unknown }).code));
}

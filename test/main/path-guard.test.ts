import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PathGuardError, resolveInside } from '../../src/main/path-guard.js';

let tmp: string;
let root: string;

async function refused(rel: string, code: 'forbidden' | 'not_found'): Promise<void> {
  const err = await resolveInside(root, rel).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, rel).toBeInstanceOf(PathGuardError);
  expect((err as PathGuardError).code, rel).toBe(code);
  expect((err as PathGuardError).status, rel).toBe(code === 'forbidden' ? 403 : 404);
}

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(join(tmpdir(), 'clusterlens-guard-')));
  root = join(tmp, 'root');
  await mkdir(join(root, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(root, 'a.png'), 'a');
  await writeFile(join(root, 'sub', 'deeper', 'b.png'), 'b');
  await writeFile(join(root, 'with space ü.png'), 'c');
  await writeFile(join(tmp, 'secret.png'), 'secret');
  await mkdir(join(tmp, 'outside'));
  await writeFile(join(tmp, 'outside', 'x.png'), 'x');
  await symlink(join(tmp, 'secret.png'), join(root, 'link-out.png'));
  await symlink(join(tmp, 'outside'), join(root, 'dir-out'));
  await symlink(join(root, 'a.png'), join(root, 'sub', 'link-in.png'));
  await symlink(join(root, 'nowhere.png'), join(root, 'dangling.png'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveInside', () => {
  it('returns the real absolute path of files inside the root', async () => {
    expect(await resolveInside(root, 'a.png')).toBe(join(root, 'a.png'));
    expect(await resolveInside(root, 'sub/deeper/b.png')).toBe(join(root, 'sub', 'deeper', 'b.png'));
    expect(await resolveInside(root, './sub//deeper/b.png')).toBe(join(root, 'sub', 'deeper', 'b.png'));
    expect(await resolveInside(root, 'with space ü.png')).toBe(join(root, 'with space ü.png'));
  });

  it('follows a symlink that stays inside the root', async () => {
    expect(await resolveInside(root, 'sub/link-in.png')).toBe(join(root, 'a.png'));
  });

  it('works when the root itself is reached through a symlink', async () => {
    const alias = join(tmp, 'alias');
    await symlink(root, alias);
    expect(await resolveInside(alias, 'a.png')).toBe(join(root, 'a.png'));
    await refused('../secret.png', 'forbidden');
  });

  it('refuses .. segments, absolute paths, NUL bytes and empty paths', async () => {
    await refused('../secret.png', 'forbidden');
    await refused('sub/../../secret.png', 'forbidden');
    await refused('sub/../a.png', 'forbidden');
    await refused('..', 'forbidden');
    await refused('..\\secret.png', 'forbidden');
    await refused(join(tmp, 'secret.png'), 'forbidden');
    await refused('/etc/passwd', 'forbidden');
    await refused('C:\\Windows\\win.ini', 'forbidden');
    await refused('\\\\server\\share\\x.png', 'forbidden');
    await refused('a.png\0.txt', 'forbidden');
    await refused('', 'forbidden');
  });

  it('refuses symlinks that lead outside the root', async () => {
    await refused('link-out.png', 'forbidden');
    await refused('dir-out/x.png', 'forbidden');
  });

  it('reports missing files, folders and dangling links as not found', async () => {
    await refused('missing.png', 'not_found');
    await refused('sub', 'not_found');
    await refused('dangling.png', 'not_found');
    await refused('.', 'forbidden');
    await expect(resolveInside(join(tmp, 'no-such-root'), 'a.png')).rejects.toMatchObject({ code: 'not_found' });
  });
});

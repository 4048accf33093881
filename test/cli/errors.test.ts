import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'clusterlens.js');

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** User errors: non-zero exit, exactly one line on stderr, no stack trace. */
function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp) {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('CLI user errors', () => {
  it('a missing project', async () => {
    expectOneLineError(await cli('info', '/nonexistent/project'), /project not found/);
  });
  it('a folder that is not a project', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-cli-'));
    expectOneLineError(await cli('export', dir, '--out', join(dir, 'x.csv')), /not a Clusterlens project/);
  });
  it('a missing image folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-cli-'));
    expectOneLineError(await cli('analyze', join(dir, 'nope'), '--project', join(dir, 'p')), /image folder not found/);
  });
  it('a folder without images', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-cli-'));
    await mkdir(join(dir, 'imgs'));
    await writeFile(join(dir, 'imgs', 'notes.txt'), 'hello');
    expectOneLineError(await cli('analyze', join(dir, 'imgs'), '--project', join(dir, 'p')), /no images found/);
  });
  it('bad option values', async () => {
    expectOneLineError(await cli('analyze', '.', '--project', '/tmp/x', '--k', 'ten'), /--k must be a whole number/);
    expectOneLineError(await cli('analyze', '.', '--project', '/tmp/x', '--size', '4'), /--size must be a whole number from 8 to 256/);
    expectOneLineError(await cli('analyze', '.'), /required option '--project <dir>'/);
    expectOneLineError(await cli('analyze', '.', '--project', '/tmp/x', '--map-exaggeration', '0.5'), /--map-exaggeration must be a number from 1 to 12/);
    expectOneLineError(await cli('analyze', '.', '--project', '/tmp/x', '--map-features', 'pixels'), /option '--map-features <what>' argument 'pixels' is invalid. Allowed choices are auto, codes, codes\+hog/);
    expectOneLineError(await cli('merge', '/nonexistent/project', '1', '2'), /project not found/);
  });
  it('--help lists every command', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const c of ['analyze', 'label', 'export', 'info', 'demo', 'similar', 'outliers', 'score', 'export-embeddings', 'merge', 'serve']) expect(r.stdout).toContain(c);
  });
});

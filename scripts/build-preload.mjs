#!/usr/bin/env node
// Bundle the sandboxed preload: src/preload/preload.ts → dist/preload/preload.cjs.
// Sandboxed preloads cannot load ES modules or other files: it must be ONE CommonJS file whose only require is
// 'electron' (left external). Importable too: `await buildPreload()` (scripts/start.mjs, tests).
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Build the preload bundle; returns the output path. */
export async function buildPreload({ outfile = join(root, 'dist', 'preload', 'preload.cjs'), minify = false } = {}) {
  await build({
    entryPoints: [join(root, 'src', 'preload', 'preload.ts')],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['electron'],
    sourcemap: false,
    minify,
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const out = await buildPreload();
    process.stdout.write(`preload: ${out}\n`);
  } catch (e) {
    process.stderr.write(`error: building the preload failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

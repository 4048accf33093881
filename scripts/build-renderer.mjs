#!/usr/bin/env node
// Build the UI: bundle src/renderer/main.ts → dist/renderer/app.js, copy index.html, styles.css and plotly.
// `--watch` rebuilds on change.
import { build, context } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'renderer');
const require = createRequire(import.meta.url);

const options = {
  entryPoints: [join(root, 'src/renderer/main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome120'],
  sourcemap: true,
  minify: process.env.NODE_ENV === 'production',
  legalComments: 'none',
  logLevel: 'warning',
};

await mkdir(out, { recursive: true });
await Promise.all([
  copyFile(join(root, 'src/renderer/index.html'), join(out, 'index.html')),
  copyFile(join(root, 'src/renderer/styles.css'), join(out, 'styles.css')),
  copyFile(require.resolve('plotly.js-strict-dist-min/plotly-strict.min.js'), join(out, 'plotly.min.js')),
]);
if (process.argv.includes('--watch')) {
  const ctx = await context(options);
  await ctx.watch();
  console.log('watching src/renderer …');
} else {
  await build(options);
  console.log(`renderer built into ${out}`);
}

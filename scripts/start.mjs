#!/usr/bin/env node
// `npm start`: the desktop app when Electron's binary is installed, else the same UI in the browser.
//
// Electron's binary is found the way the `electron` package finds it (node_modules/electron/path.txt →
// node_modules/electron/dist/<path>, or ELECTRON_OVERRIDE_DIST_PATH), but without require('electron'):
// since Electron 45 that require starts a download when the binary is missing, which is exactly the case
// (a blocked download host) this fallback exists for.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const extraArgs = process.argv.slice(2);

/** Absolute path of the Electron executable, or null when it is not installed. */
export function electronBinary() {
  let pkgDir;
  try {
    pkgDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  let rel;
  try {
    rel = readFileSync(join(pkgDir, 'path.txt'), 'utf8').trim();
  } catch {
    rel = '';
  }
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, rel || 'electron');
    return existsSync(p) ? p : null;
  }
  if (!rel) return null;
  const p = join(pkgDir, 'dist', rel);
  return existsSync(p) ? p : null;
}

/** Run a child with our stdio, pass Ctrl+C/TERM on, and leave with its exit code. */
function run(command, args) {
  const child = spawn(command, args, { stdio: 'inherit', cwd: root });
  const forward = (signal) => {
    if (child.exitCode === null) child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function startElectron(binary) {
  const mainJs = join(root, 'dist', 'main', 'electron.js');
  if (!existsSync(mainJs)) {
    process.stderr.write('error: the app is not built yet: run "npm run build" first\n');
    return 1;
  }
  // The preload bundle is tiny and quick to rebuild; keep it in step with the sources (esbuild is a dev dependency).
  try {
    const { buildPreload } = await import('./build-preload.mjs');
    await buildPreload();
  } catch (e) {
    if (!existsSync(join(root, 'dist', 'preload', 'preload.cjs'))) {
      process.stderr.write(`error: could not build the preload: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
  }
  if (!existsSync(join(root, 'dist', 'renderer', 'index.html'))) {
    process.stderr.write('warning: dist/renderer/index.html is missing: the window will be empty until the renderer is built\n');
  }
  return run(binary, [mainJs, ...extraArgs]);
}

async function startBrowser() {
  process.stdout.write("Electron's binary is not installed here; serving the UI in your browser instead\n");
  return run(process.execPath, [join(root, 'bin', 'clusterlens.js'), 'serve', '--port', '0', ...extraArgs]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const binary = electronBinary();
  try {
    process.exitCode = binary ? await startElectron(binary) : await startBrowser();
  } catch (e) {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

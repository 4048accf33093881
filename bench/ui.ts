/**
 * UI benchmark: the map and the labeling loop in Chromium on a 70,000-point project.
 *
 *   npx tsx bench/ui.ts [--n 70000] [--keep] [--bypass-csp] [--profile] [--profile-first] [--no-screenshot]
 *
 * The project is synthetic (so the benchmark takes seconds, not the hour analyzing 70,000 images would): ten
 * Gaussian blobs on the map, one of exactly 10,000 points, the others sharing the rest; every point's image is
 * a hard link to a Fashion-MNIST image of the blob's class from the bundled sample, so thumbnails are real.
 * It is served by the real backend (Session + HTTP server, in-process) and measured in the page:
 *   - first render: click "Open" → points fetched, scattergl drawn and painted (target < 2 s)
 *   - lasso: mouse-up of a lasso around the 10,000-point blob → the selection panel shows it (target < 0.5 s)
 *   - label: "Label selection" on those 10,000 images → the backend confirmed the edit (journal fsync'd) and
 *     the map and the status bar show it (target < 0.3 s)
 *   - gallery scroll: mean frame time while scrolling the 10,000-image selection; thumbnail cells in the DOM
 * Prints the figures and a final JSON line.
 */
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { ensureDemoFolder } from '../src/core/demo.js';
import { ProjectStore } from '../src/core/project.js';
import { gaussian, seededRandom } from '../src/core/random.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1] || 70_000) || 70_000;
const BIG = 10_000;
const K = 10;

async function makeProject(root: string, n: number): Promise<{ dir: string; centers: [number, number][] }> {
  const demo = await ensureDemoFolder();
  const byClass = new Map<string, string[]>();
  for (const [name, cls] of demo.truth) {
    if (!byClass.has(cls)) byClass.set(cls, []);
    byClass.get(cls)!.push(join(demo.imagesDir, name));
  }
  const classes = [...byClass.keys()].sort();
  const images = join(root, 'images');
  await mkdir(images, { recursive: true });
  const rand = seededRandom(7);
  const gauss = () => gaussian(rand);
  const centers: [number, number][] = Array.from({ length: K }, (_, c) => {
    const a = (2 * Math.PI * c) / K;
    return [Math.cos(a) * 40, Math.sin(a) * 40];
  });
  const coords = new Float32Array(2 * n);
  const clusters = new Int32Array(n);
  const errors = new Float32Array(n);
  const outliers = new Float32Array(n);
  const entries = [];
  // hard links are cheap and stay inside the dataset root (a symlink could look like an escape)
  const firstLinkSrc = byClass.get(classes[0])![0];
  let linkable = true;
  try {
    await link(firstLinkSrc, join(images, 'probe.png'));
    await rm(join(images, 'probe.png'));
  } catch {
    linkable = false;
  }
  const { copyFile } = await import('node:fs/promises');
  const batch: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const c = i < BIG ? 0 : 1 + ((i - BIG) % (K - 1));
    clusters[i] = c;
    const spread = c === 0 ? 4 : 6;
    coords[2 * i] = centers[c][0] + gauss() * spread;
    coords[2 * i + 1] = centers[c][1] + gauss() * spread;
    errors[i] = 0.01 + rand() * 0.02;
    outliers[i] = gauss();
    const pool = byClass.get(classes[c % classes.length])!;
    const src = pool[i % pool.length];
    const name = `img-${String(i).padStart(6, '0')}.png`;
    const dest = join(images, name);
    entries.push({ path: name, hash: `synthetic-${i}`, bytes: 0, mtimeMs: 0 });
    if (!existsSync(dest)) batch.push(linkable ? link(src, dest) : copyFile(src, dest));
    if (batch.length >= 512) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  const dir = join(root, 'project');
  const store = await ProjectStore.create(dir, {
    datasetRoot: images,
    channels: 1,
    settings: { size: 28, color: 'auto', latent: 32, preset: 'small', epochs: 10, sample: 10000, seed: 1, projector: 'bh', clusterOn: 'map' },
  });
  const st = await stat(join(images, entries[0].path));
  for (const e of entries) {
    e.bytes = st.size;
    e.mtimeMs = st.mtimeMs;
  }
  store.manifest.images = entries;
  const sizes = Array.from({ length: K }, (_, c) => clusters.filter((v) => v === c).length);
  store.manifest.clustering = { method: 'synthetic', k: K, seed: 1, sizes, inertia: 0, iterations: 0, codesFor: 'synthetic' };
  store.manifest.projection = { method: 'synthetic blobs', seed: 1, codesFor: 'synthetic' };
  await store.writeArray('coords', coords, [n, 2]);
  await store.writeArray('clusters', clusters, [n]);
  await store.writeArray('errors', errors, [n]);
  await store.writeArray('outliers', outliers, [n]);
  await store.save();
  return { dir, centers };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Start Chrome's sampling profiler (200 µs) on the page; the returned function stops it and gives the profile. */
async function startProfile(page: Page): Promise<() => Promise<CpuProfile>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  return async () => (await cdp.send('Profiler.stop')).profile as CpuProfile;
}

/** --profile / --profile-first: top functions by self and inclusive time (Chrome's sampling profiler). */
function printProfile(p: CpuProfile, what: string): void {
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
  };
  const selfBy = new Map<string, number>();
  const totalBy = new Map<string, number>();
  for (const [id, ms] of self) {
    selfBy.set(name(id), (selfBy.get(name(id)) ?? 0) + ms);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const nm = name(cur);
      if (!seen.has(nm)) totalBy.set(nm, (totalBy.get(nm) ?? 0) + ms);
      seen.add(nm);
    }
  }
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => `  ${v.toFixed(1).padStart(8)} ms  ${k}`).join('\n');
  console.log(`profile of the ${what}, self time:\n${top(selfBy)}\ninclusive time:\n${top(totalBy)}`);
}

function withTimeout<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref())]);
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.error(`Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH)`);
    process.exitCode = 1;
    return;
  }
  const rendererIndex = new URL('../dist/renderer/index.html', import.meta.url);
  if (!existsSync(rendererIndex)) {
    console.error('dist/renderer is missing: run "node scripts/build-renderer.mjs" first');
    process.exitCode = 1;
    return;
  }
  const root = await mkdtemp(join(tmpdir(), 'clusterlens-bench-ui-'));
  const t0 = performance.now();
  const { dir } = await makeProject(root, N);
  console.log(`synthetic project: ${N.toLocaleString('en-US')} points, ${(await readdir(join(root, 'images'))).length.toLocaleString('en-US')} images, made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const { Session } = await import('../src/main/session.js');
  const { startServer } = await import('../src/main/server.js');
  const session = new Session({ mode: 'browser', stateDir: join(root, 'state') });
  const server = await startServer({ session });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
  const figures: Record<string, number> = {};
  try {
    // --bypass-csp: measure plotly's WebGL path, which the served CSP (script-src 'self', no 'unsafe-eval') blocks
    // plotly.js-dist-min compiled shaders with new Function(), which the CSP blocks; the strict bundle does not.
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, bypassCSP: args.includes('--bypass-csp') });
    // tsx keeps function names with a `__name` helper that the page does not have
    await page.addInitScript('globalThis.__name = (f) => f;');
    page.on('crash', () => console.error('page crashed'));
    page.on('console', (m) => (m.type() === 'error' || process.env.BENCH_DEBUG) && console.error('console:', m.type(), m.text()));
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.url);
    await page.waitForSelector('#open-form');
    await page.fill('#open-dir', dir);

    // 1. first render
    const stopFirst = args.includes('--profile-first') ? await startProfile(page) : null;
    figures.firstRenderMs = await withTimeout(page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const t = performance.now();
          (document.querySelector('#open-btn') as HTMLButtonElement).click();
          const check = () => {
            if (document.querySelector('#map[data-ready]')) requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t)));
            else setTimeout(check, 2);
          };
          check();
        }),
    ), 'first render');
    if (stopFirst) printProfile(await stopFirst(), 'first render');
    console.log(`first render of the map (${N.toLocaleString('en-US')} points): ${figures.firstRenderMs.toFixed(0)} ms (target < 2000)`);

    if (process.env.BENCH_DEBUG) await page.screenshot({ path: join(root, 'first-render.png') });
    // 2. lasso around the 10,000-point blob, with the mouse
    const poly = await page.evaluate(() => {
      type Ax = { d2p(v: number): number; _offset: number };
      const gd = document.querySelector('#map') as HTMLElement & { _fullLayout: { xaxis: Ax; yaxis: Ax } };
      const { xaxis, yaxis } = gd._fullLayout;
      const r = gd.getBoundingClientRect();
      const pts: [number, number][] = [];
      for (let a = 0; a < 2 * Math.PI; a += Math.PI / 24) {
        const x = 40 + Math.cos(a) * 14;
        const y = 0 + Math.sin(a) * 14;
        pts.push([r.left + xaxis._offset + xaxis.d2p(x), r.top + yaxis._offset + yaxis.d2p(y)]);
      }
      return pts;
    });
    await page.evaluate(() => {
      const w = window as unknown as { __lasso: Promise<number> };
      w.__lasso = new Promise<number>((resolve) => {
        let up = 0;
        document.addEventListener('mouseup', () => (up = performance.now()), { capture: true, once: true });
        const el = document.querySelector('#sel-count')!;
        const obs = new MutationObserver(() => {
          if (up && /selected/.test(el.textContent ?? '')) {
            obs.disconnect();
            requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - up)));
          }
        });
        obs.observe(el, { childList: true, characterData: true, subtree: true });
      });
    });
    await page.mouse.move(poly[0][0], poly[0][1]);
    await page.mouse.down();
    for (const [x, y] of [...poly.slice(1), poly[0]]) await page.mouse.move(x, y, { steps: 2 });
    await page.mouse.up();
    figures.lassoMs = await withTimeout(page.evaluate(() => (window as unknown as { __lasso: Promise<number> }).__lasso), 'lasso');
    const selected = Number(((await page.textContent('#sel-count')) ?? '0').replace(/,/g, '').match(/\d+/)?.[0] ?? 0);
    figures.selected = selected;
    figures.galleryCells = await page.locator('.gallery .cell').count();
    console.log(`lasso of ${selected.toLocaleString('en-US')} points → selection panel: ${figures.lassoMs.toFixed(0)} ms (target < 500); ${figures.galleryCells} thumbnail cells in the DOM`);

    // 3. label the selection
    // colour the map by label, so that the edit has to change the map's colours, not only the panels
    await page.click('#color-label');
    await page.waitForTimeout(500);
    await page.fill('#sel-label', 'bench-label');
    const stopLabel = args.includes('--profile') ? await startProfile(page) : null;
    figures.labelMs = await withTimeout(page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const status = document.querySelector('#status')!;
          const before = document.querySelector('#status-labeled')?.getAttribute('data-count');
          const t = performance.now();
          const obs = new MutationObserver(() => {
            const now = document.querySelector('#status-labeled')?.getAttribute('data-count');
            if (now && now !== before) {
              obs.disconnect();
              requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t)));
            }
          });
          obs.observe(status, { childList: true, subtree: true, attributes: true });
          (document.querySelector('#label-selection') as HTMLButtonElement).click();
        }),
    ), 'label');
    if (stopLabel) printProfile(await stopLabel(), 'label step');
    const labeled = Number(await page.getAttribute('#status-labeled', 'data-count'));
    figures.labeled = labeled;
    console.log(`label ${labeled.toLocaleString('en-US')} selected images → confirmed and shown: ${figures.labelMs.toFixed(0)} ms (target < 300)`);

    // 4. scroll the selection gallery end to end
    const scroll = await withTimeout(page.evaluate(
      () =>
        new Promise<{ meanFrameMs: number; maxFrameMs: number; maxCells: number }>((resolve) => {
          const g = document.querySelector('.gallery') as HTMLElement;
          const frames: number[] = [];
          let last = performance.now();
          let maxCells = 0;
          const steps = 120;
          let i = 0;
          const tick = () => {
            const now = performance.now();
            frames.push(now - last);
            last = now;
            maxCells = Math.max(maxCells, g.querySelectorAll('.cell').length);
            if (i++ >= steps) {
              frames.shift();
              resolve({ meanFrameMs: frames.reduce((a, b) => a + b, 0) / frames.length, maxFrameMs: Math.max(...frames), maxCells });
              return;
            }
            g.scrollTop = ((g.scrollHeight - g.clientHeight) * i) / steps;
            requestAnimationFrame(tick);
          };
          requestAnimationFrame(tick);
        }),
    ), 'scroll');
    Object.assign(figures, { scrollMeanFrameMs: scroll.meanFrameMs, scrollMaxFrameMs: scroll.maxFrameMs, scrollMaxCells: scroll.maxCells });
    console.log(`gallery scroll through ${selected.toLocaleString('en-US')} images: mean frame ${scroll.meanFrameMs.toFixed(1)} ms, worst ${scroll.maxFrameMs.toFixed(1)} ms, at most ${scroll.maxCells} cells in the DOM`);

    // 5. undo (refetches the points) for reference
    figures.undoMs = await withTimeout(page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const t = performance.now();
          const status = document.querySelector('#status')!;
          const obs = new MutationObserver(() => {
            if (document.querySelector('#status-labeled')?.getAttribute('data-count') === '0') {
              obs.disconnect();
              requestAnimationFrame(() => resolve(performance.now() - t));
            }
          });
          obs.observe(status, { childList: true, subtree: true, attributes: true });
          (document.querySelector('#undo') as HTMLButtonElement).click();
        }),
    ), 'undo');
    console.log(`undo of that edit (points refetched, map recoloured): ${figures.undoMs.toFixed(0)} ms`);
    if (!args.includes('--no-screenshot')) {
      await mkdir(new URL('../test/artifacts/', import.meta.url), { recursive: true });
      await page.screenshot({ path: new URL('../test/artifacts/bench-map.png', import.meta.url).pathname });
    }
  } finally {
    await browser.close();
    await server.close();
    await session.close();
    if (!args.includes('--keep')) await rm(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
  const round = (v: number) => Math.round(v * 10) / 10;
  console.log(JSON.stringify({ bench: 'ui', points: N, csp: args.includes('--bypass-csp') ? 'bypassed' : 'served', ...Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, round(v)])) }));
}

await main();

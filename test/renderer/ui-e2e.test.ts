/**
 * The UI end to end, in Chromium, against the real `clusterlens serve`: analyze 300 real images → the map →
 * label a cluster from the panel → box-select a region with the mouse and label it → undo → export the CSV and
 * check it → screenshot of the map (test/artifacts/map.png).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { ensureDemoFolder } from '../../src/core/demo.js';
import { PALETTE, UNLABELED } from '../../src/renderer/colors.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const haveChromium = existsSync(CHROMIUM);

function startServe(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    // the built CLI when it is current, else the same CLI from the TypeScript sources (tsx)
    const built = join(ROOT, 'dist/cli/main.js');
    const current = existsSync(built) && readFileSync(built, 'utf8').includes('registerServeCommand');
    const argv = current
      ? [join(ROOT, 'bin/clusterlens.js'), 'serve', '--port', '0']
      : ['--import', 'tsx', '--input-type=module', '-e', "import { main } from './src/cli/main.ts'; process.exitCode = await main(['node', 'clusterlens', ...process.argv.slice(1)]);", 'serve', '--port', '0'];
    const child = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 30 s; stderr: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${err}`));
    });
  });
}

async function labeledCount(page: Page): Promise<number> {
  return Number(await page.getAttribute('#status-labeled', 'data-count'));
}

async function waitLabeled(page: Page, n: number): Promise<void> {
  await page.waitForFunction((want) => document.querySelector('#status-labeled')?.getAttribute('data-count') === String(want), n, { timeout: 15_000 });
}

function parseCsv(text: string): Record<string, string>[] {
  // RFC 4180 with the cells this test meets (no embedded newlines in paths or labels)
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const split = (line: string) => {
    const cells: string[] = [];
    let cur = '';
    let q = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (q) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') q = false;
        else cur += ch;
      } else if (ch === '"') q = true;
      else if (ch === ',') {
        cells.push(cur);
        cur = '';
      } else cur += ch;
    }
    cells.push(cur);
    return cells;
  };
  const head = split(lines[0]);
  return lines.slice(1).map((l) => {
    const cells = split(l);
    return Object.fromEntries(head.map((h, i) => [h, cells[i] ?? '']));
  });
}

/** Page coordinates of map points (plotly's axes), and the colour the screenshot shows at each. */
async function mapColours(page: Page, rows: number[]): Promise<[number, number, number][]> {
  const pos = await page.evaluate((want) => {
    type Ax = { d2p(v: number): number; _offset: number };
    const gd = document.querySelector('#map') as HTMLElement & { _fullLayout: { xaxis: Ax; yaxis: Ax }; data: { x: ArrayLike<number>; y: ArrayLike<number> }[] };
    const { xaxis, yaxis } = gd._fullLayout;
    const r = gd.getBoundingClientRect();
    return want.map((i) => [r.left + xaxis._offset + xaxis.d2p(gd.data[0].x[i]), r.top + yaxis._offset + yaxis.d2p(gd.data[0].y[i])] as [number, number]);
  }, rows);
  const png = await page.screenshot();
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return pos.map(([x, y]) => {
    const o = (Math.round(y) * info.width + Math.round(x)) * info.channels;
    return [data[o], data[o + 1], data[o + 2]];
  });
}

function near(c: [number, number, number], hex: string, tol = 40): boolean {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return c.every((v, i) => Math.abs(v - want[i]) <= tol);
}

if (!haveChromium) console.warn(`ui-e2e skipped: ${CHROMIUM} is not installed (CI installs Debian's chromium)`);

describe.skipIf(!haveChromium)('renderer UI in Chromium', () => {
  let tmp = '';
  let serve: ChildProcess | undefined;
  let url = '';
  let browser: Browser | undefined;
  let imagesDir = '';

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'clusterlens-ui-e2e-'));
    await new Promise<void>((resolve, reject) => {
      const b = spawn(process.execPath, [join(ROOT, 'scripts/build-renderer.mjs')], { cwd: ROOT, stdio: 'inherit' });
      b.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build-renderer exited with ${code}`))));
    });
    imagesDir = (await ensureDemoFolder({ limit: 300, dir: join(tmp, 'demo') })).imagesDir;
    ({ child: serve, url } = await startServe({ ...process.env, CLUSTERLENS_CACHE: join(tmp, 'cache') }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // swiftshader: software WebGL for plotly's scattergl (the UI falls back to SVG without it)
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (serve && serve.exitCode === null) {
      serve.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('analyzes, labels a cluster and a box selection, undoes, exports', async () => {
    const page = await browser!.newPage({ viewport: { width: 1360, height: 860 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);

    // start screen → analyze with a small configuration
    await page.waitForSelector('#analyze-form');
    await page.fill('#analyze-folder', imagesDir);
    await page.fill('#analyze-project', join(tmp, 'project'));
    await page.click('.settings summary');
    await page.fill('#set-size', '16');
    await page.fill('#set-epochs', '2');
    await page.fill('#set-latent', '8');
    await page.fill('#set-k', '5');
    // what the map is made from reaches the backend (auto would take the codes too at 5 clusters)
    await page.selectOption('#set-features', 'codes');
    await page.click('#analyze-btn');
    await page.waitForSelector('#map[data-ready="300"]', { timeout: 90_000 });
    expect(await page.textContent('#status-images')).toContain('300');
    expect(await page.textContent('#status-map')).toBe('');
    expect(await page.getAttribute('#status-k', 'title')).toMatch(/^clusters: k-means then merged along the kNN graph on the 2-D map\nmap: barnes-hut t-SNE, exaggeration 2$/);

    // label cluster 0 from the cluster panel
    const c0 = page.locator('.cluster[data-cluster="0"]');
    const size0 = Number(((await c0.locator('.num').textContent()) ?? '').replace(/[^\d]/g, ''));
    expect(size0).toBeGreaterThan(0);
    await c0.locator('input.cluster-label').fill('alpha');
    await c0.locator('button.label-cluster').click();
    await waitLabeled(page, size0);

    // box-select a region of the map with the mouse, label it
    await page.click('#tool-box');
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.7, { steps: 12 });
    await page.mouse.up();
    await page.waitForFunction(() => /selected/.test(document.querySelector('#sel-count')?.textContent ?? ''), null, { timeout: 10_000 });
    const selected = Number(((await page.textContent('#sel-count')) ?? '').replace(/,/g, '').match(/\d+/)![0]);
    expect(selected).toBeGreaterThan(0);
    expect(await page.locator('.gallery .cell').count()).toBeGreaterThan(0);
    await page.fill('#sel-label', 'beta');
    await page.click('#label-selection');
    await page.waitForFunction((before) => document.querySelector('#status-labeled')?.getAttribute('data-count') !== String(before), size0, { timeout: 15_000 });
    expect(await page.locator('.label-row[data-label="beta"]').count()).toBe(1);

    // undo the selection label
    await page.click('#undo');
    await waitLabeled(page, size0);
    expect(await page.locator('.label-row[data-label="beta"]').count()).toBe(0);

    // colour by label and keep a picture of the map
    await page.click('#color-label');
    await page.keyboard.press('Escape');
    await mkdir(join(ROOT, 'test/artifacts'), { recursive: true });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ROOT, 'test/artifacts/map.png') });

    // export
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const csv = await readFile((await download.path())!, 'utf8');
    const rows = parseCsv(csv);
    expect(rows).toHaveLength(300);
    const alpha = rows.filter((r) => r.label === 'alpha');
    expect(alpha).toHaveLength(size0);
    expect(alpha.every((r) => r.cluster === '0')).toBe(true);
    expect(rows.filter((r) => r.label === 'beta')).toHaveLength(0);
    expect(rows.filter((r) => r.label === '')).toHaveLength(300 - size0);
    expect(await labeledCount(page)).toBe(size0);
    expect(errors).toEqual([]);
  }, 150_000);

  it('recolours the map after a label edit, merges clusters, shows reconstructions, searches by a dropped image, ranks outliers', async () => {
    const page = await browser!.newPage({ viewport: { width: 1360, height: 860 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('#open-form');
    await page.fill('#open-dir', join(tmp, 'project'));
    await page.click('#open-btn');
    await page.waitForSelector('#map[data-ready="300"]', { timeout: 30_000 });
    const labeledBefore = await labeledCount(page);

    // colour by label; select cluster 1 from its card and label it: its points turn from grey to the new colour
    await page.click('#color-label');
    await page.waitForSelector('#map[data-color="label"]');
    const c1 = page.locator('.cluster[data-cluster="1"]');
    const size1 = Number(((await c1.locator('.num').textContent()) ?? '').replace(/[^\d]/g, ''));
    await c1.locator('.cluster-head button.link').click();
    await page.waitForFunction((n) => new RegExp(`^${n} selected`).test(document.querySelector('#sel-count')?.textContent ?? ''), size1);
    const rows = await page.evaluate(() => {
      const gd = document.querySelector('#map') as HTMLElement & { data: { selectedpoints?: number[] }[] };
      return Array.from(gd.data[0].selectedpoints ?? []);
    });
    expect(rows).toHaveLength(size1);
    await page.waitForTimeout(300);
    const greyBefore = (await mapColours(page, rows)).filter((c) => near(c, UNLABELED)).length;
    expect(greyBefore / size1).toBeGreaterThan(0.5);
    await page.fill('#sel-label', 'gamma');
    await page.click('#label-selection');
    await waitLabeled(page, labeledBefore + size1);
    await page.waitForTimeout(300);
    // the colour the labels panel shows for 'gamma'
    const swatch = await page.locator('.label-row[data-label="gamma"] .swatch').evaluate((el) => getComputedStyle(el).backgroundColor);
    const gamma = '#' + (swatch.match(/\d+/g) ?? []).slice(0, 3).map((v) => Number(v).toString(16).padStart(2, '0')).join('');
    expect(PALETTE).toContain(gamma);
    const colours = await mapColours(page, rows);
    expect(colours.filter((c) => near(c, gamma)).length / size1).toBeGreaterThan(0.5);
    expect(colours.filter((c) => near(c, UNLABELED)).length).toBeLessThan(greyBefore / 4);

    // merge clusters 2 and 3 from the panel, then undo the merge
    await page.keyboard.press('Escape');
    await page.click('#tab-clusters');
    const size = async (c: number) => Number(((await page.locator(`.cluster[data-cluster="${c}"] .num`).textContent()) ?? '').replace(/[^\d]/g, ''));
    const [s2, s3] = [await size(2), await size(3)];
    await page.locator('.cluster[data-cluster="2"] .merge-pick').check();
    await page.locator('.cluster[data-cluster="3"] .merge-pick').check();
    await page.click('#merge-clusters');
    await page.waitForSelector('.cluster[data-cluster="3"]', { state: 'detached' });
    expect(await size(2)).toBe(s2 + s3);
    expect(await page.textContent('#status')).toContain('merged clusters 2, 3 into 2');
    await page.click('#unmerge');
    await page.waitForSelector('.cluster[data-cluster="3"]');
    expect([await size(2), await size(3)]).toEqual([s2, s3]);

    // detail view: the image, what the model sees, and its reconstruction
    await page.locator('.cluster[data-cluster="0"] .strip img').first().click();
    await page.waitForSelector('#recon-output');
    const recon = await page.evaluate(async () => {
      const out = document.querySelector('#recon-output') as HTMLImageElement;
      await out.decode();
      return { w: out.naturalWidth, src: out.src.slice(0, 22), caption: document.querySelector('#detail-recon')?.textContent ?? '' };
    });
    expect(recon).toMatchObject({ w: 16, src: 'data:image/png;base64,' });
    expect(recon.caption).toMatch(/reconstruction \(error \d/);
    await page.screenshot({ path: join(ROOT, 'test/artifacts/detail.png') });
    await page.keyboard.press('Escape');

    // drop an image file from outside the project on the window: its look-alikes become the selection
    const query = await readFile(join(imagesDir, 'img-00010.png'));
    await page.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'outside.png', { type: 'image/png' }));
      document.querySelector('.map-wrap')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, query.toString('base64'));
    await page.waitForSelector('#query-card:not(.hidden)');
    await page.waitForFunction(() => /like outside\.png/.test(document.querySelector('#sel-count')?.textContent ?? ''));
    expect(await page.textContent('#sel-count')).toMatch(/^48 selected/);
    expect(await page.textContent('#query-verdict')).toMatch(/looks like|unlike anything labeled/);
    const firstCell = await page.locator('.gallery .cell').first().getAttribute('title');
    expect(firstCell).toMatch(/^distance 0\.00\d — img-00010\.png/); // the same pixels: the project's own copy is nearest

    // outliers: the ranked view, and the map coloured by outlier score
    await page.click('#tab-outliers');
    await page.waitForFunction(() => /most unusual/.test(document.querySelector('#outlier-head')?.textContent ?? ''));
    expect(await page.locator('#panel-outliers .gallery .cell').count()).toBeGreaterThan(0);
    const scores = await page.locator('#panel-outliers .gallery .cell').evaluateAll((cells) => cells.map((c) => Number(/outlier score (-?[\d.]+)/.exec(c.getAttribute('title') ?? '')?.[1])));
    expect(scores.length).toBeGreaterThan(1);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    await page.click('#color-by-outlier');
    await page.waitForSelector('#map[data-color="outlier"]');
    await page.keyboard.press('Escape'); // clear the selection, so the whole map shows at full opacity
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ROOT, 'test/artifacts/outliers.png') });

    // re-opened, the project comes back as it was left: its labels, the colouring and the panel
    await page.reload();
    await page.waitForSelector('#open-form');
    await page.fill('#open-dir', join(tmp, 'project'));
    await page.click('#open-btn');
    await page.waitForSelector('#map[data-ready="300"]', { timeout: 30_000 });
    expect(await page.getAttribute('#map', 'data-color')).toBe('outlier');
    expect(await page.getAttribute('#tab-outliers', 'aria-selected')).toBe('true');
    expect(await labeledCount(page)).toBe(labeledBefore + size1);
    expect(errors).toEqual([]);
  }, 90_000);
});

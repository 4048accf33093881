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
import { ensureDemoFolder } from '../../src/core/demo.js';

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
    await page.click('#analyze-btn');
    await page.waitForSelector('#map[data-ready="300"]', { timeout: 90_000 });
    expect(await page.textContent('#status-images')).toContain('300');

    // label cluster 0 from the cluster panel
    const c0 = page.locator('.cluster[data-cluster="0"]');
    const size0 = Number(((await c0.locator('.num').textContent()) ?? '').replace(/[^\d]/g, ''));
    expect(size0).toBeGreaterThan(0);
    await c0.locator('input').fill('alpha');
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
});

/**
 * The HTTP transport end to end: a real server on 127.0.0.1 over a real project (150 demo images analyzed with
 * fast settings), every API method through HTTP, the token and Host checks, the image guard, SSE events of a
 * worker job (done and cancelled), and labels surviving a new Session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ensureDemoFolder } from '../../src/core/demo.js';
import { analyze } from '../../src/core/pipeline.js';
import { Session } from '../../src/main/session.js';
import { CONTENT_SECURITY_POLICY, startServer, type RunningServer } from '../../src/main/server.js';
import type { ApiEvent, ApiResults, Points, ProjectState } from '../../src/shared/api.js';
import { MAX_IMAGE_BASE64 } from '../../src/shared/limits.js';

const FAST = { size: 16, epochs: 1, latent: 8, k: 4 };

let tmp: string;
let imagesDir: string;
let projectDir: string;
let session: Session;
let server: RunningServer;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

async function call(method: string, params: unknown = {}, headers: Record<string, string> = {}): Promise<{ status: number; json: { ok: boolean; result?: unknown; error?: { code: string; message: string } } }> {
  const r = await raw(`/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clusterlens-token': server.token, ...headers }, body: JSON.stringify(params) });
  return { status: r.status, json: JSON.parse(r.body.toString('utf8')) };
}

async function ok<M extends keyof ApiResults>(method: M, params: unknown = {}): Promise<ApiResults[M]> {
  const r = await call(method, params);
  expect(r.json.error, `${method}: ${JSON.stringify(r.json.error)}`).toBeUndefined();
  expect(r.status).toBe(200);
  return r.json.result as ApiResults[M];
}

async function fails(method: string, params: unknown, status: number, code: string, message?: RegExp): Promise<string> {
  const r = await call(method, params);
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(r.json.ok).toBe(false);
  expect(r.json.error?.code).toBe(code);
  if (message) expect(r.json.error?.message).toMatch(message);
  expect(r.json.error?.message).not.toMatch(/\n\s+at /);
  return r.json.error!.message;
}

/** Subscribe to /api/events; `until` resolves with every event up to the first one matching. */
function events() {
  const seen: ApiEvent[] = [];
  const waiters: { pred: (e: ApiEvent) => boolean; resolve: (e: ApiEvent[]) => void }[] = [];
  let buf = '';
  const req = request({ host: '127.0.0.1', port: server.port, path: `/api/events?token=${server.token}` }, (res) => {
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data) continue;
        const e = JSON.parse(data) as ApiEvent;
        seen.push(e);
        for (const w of [...waiters]) if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve([...seen]);
        }
      }
    });
  });
  req.on('error', () => {});
  req.end();
  const connected = new Promise<void>((r) => req.once('response', () => r()));
  return {
    seen,
    connected,
    until: (pred: (e: ApiEvent) => boolean) => new Promise<ApiEvent[]>((resolve) => waiters.push({ pred, resolve })),
    close: () => req.destroy(),
  };
}

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(join(tmpdir(), 'clusterlens-http-')));
  const demo = await ensureDemoFolder({ limit: 150, dir: join(tmp, 'demo') });
  imagesDir = demo.imagesDir;
  projectDir = join(tmp, 'project');
  await analyze({ folder: imagesDir, project: projectDir, ...FAST });
  await writeFile(join(tmp, 'secret.png'), await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } }).png().toBuffer());
  await symlink(join(tmp, 'secret.png'), join(imagesDir, 'zz-link-out.png'));
  const renderer = join(tmp, 'renderer');
  await mkdir(renderer);
  await writeFile(join(renderer, 'index.html'), '<!doctype html><title>UI</title><script src="app.js"></script>');
  await writeFile(join(renderer, 'app.js'), 'console.log(1)');
  session = new Session({ mode: 'browser', stateDir: join(tmp, 'state'), demo: { projectDir } });
  server = await startServer({ session, port: 0, rendererDir: renderer, log: () => {} });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await session?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('HTTP server', () => {
  it('prints a 127.0.0.1 URL with the token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token).toMatch(/^[0-9a-f]{48}$/);
  });

  it('refuses requests without the token, with a wrong token, or with a foreign Host header', async () => {
    let r = await raw('/api/app.info', { method: 'POST', body: '{}' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body.toString())).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    r = await raw('/api/app.info', { method: 'POST', body: '{}', headers: { 'x-clusterlens-token': 'x'.repeat(48) } });
    expect(r.status).toBe(403);
    r = await raw(`/?`);
    expect(r.status).toBe(403);
    r = await raw(`/image?path=img-00000.png`);
    expect(r.status).toBe(403);
    r = await raw(`/api/app.info?token=${server.token}`, { method: 'POST', body: '{}', headers: { host: `evil.example:${server.port}` } });
    expect(r.status).toBe(403);
    r = await raw(`/api/app.info?token=${server.token}`, { method: 'POST', body: '{}', headers: { host: `localhost:${server.port}` } });
    expect(r.status).toBe(200);
  });

  it('serves the renderer with security headers and a token cookie for its assets', async () => {
    const r = await raw(`/?token=${server.token}`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain('<title>UI</title>');
    expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    const js = await raw('/app.js', { headers: { cookie } });
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    // The cookie is good for static files only, not for the API.
    expect((await raw('/api/app.info', { method: 'POST', body: '{}', headers: { cookie } })).status).toBe(403);
    expect((await raw(`/%2e%2e/secret.png?token=${server.token}`)).status).toBe(404); // the URL parser folds it to /secret.png
    expect((await raw(`/..%2fsecret.png?token=${server.token}`)).status).toBe(403);
    expect((await raw(`/sub/..%2f..%2f..%2fsecret.png?token=${server.token}`)).status).toBe(403);
    expect((await raw(`/missing.js?token=${server.token}`)).status).toBe(404);
  });

  it('says the UI is not built when the renderer folder has no index.html', async () => {
    const s2 = await startServer({ session, port: 0, rendererDir: join(tmp, 'no-renderer') });
    try {
      const text = await (await fetch(s2.url)).text();
      expect(text).toMatch(/npm run build/);
    } finally {
      await s2.close();
    }
  });

  it('rejects unknown methods, bad JSON and bad params with one clear line', async () => {
    await fails('no.such.method', {}, 400, 'bad_request', /unknown method: no\.such\.method/);
    const bad = await raw('/api/project.open', { method: 'POST', body: '{nope', headers: { 'x-clusterlens-token': server.token } });
    expect(bad.status).toBe(400);
    await fails('project.open', {}, 400, 'bad_request', /project\.open: invalid params: dir: /);
    await fails('labels.cluster', { cluster: -1, label: 'x' }, 400, 'bad_request', /cluster: /);
    await fails('labels.assign', { paths: 'a.png', label: 'x', source: 'selection' }, 400, 'bad_request', /paths: /);
    await fails('labels.assign', { paths: ['a.png'], label: '   ', source: 'selection' }, 400, 'bad_request', /label: /);
    await fails('similar', { path: 'img-00000.png', top: 0 }, 400, 'bad_request', /top: /);
  });

  it('answers no_project before a project is open, and app.info / recent.list', async () => {
    await fails('project.state', {}, 409, 'no_project');
    await fails('project.points', {}, 409, 'no_project');
    expect((await raw(`/image?path=img-00000.png&token=${server.token}`)).status).toBe(409);
    const info = await ok('app.info');
    expect(info).toMatchObject({ mode: 'browser', demoAvailable: true });
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await ok('recent.list')).projects).toEqual([]);
    await fails('project.open', { dir: join(tmp, 'nope') }, 404, 'not_found');
    await fails('project.open', { dir: imagesDir }, 400, 'bad_request', /not a Clusterlens project/);
  });

  it('opens a project and serves its state, points, similar and outliers', async () => {
    const state = await ok('project.open', { dir: projectDir });
    expect(state).toMatchObject({ dir: projectDir, datasetRoot: imagesDir, images: 150, labeled: 0, canUndo: false });
    expect(state.clusters?.k).toBe(4);
    expect(state.settings).toMatchObject({ size: 16, latent: 8, epochs: 1, k: 4 });
    expect((await ok('project.state')).images).toBe(150);
    expect((await ok('recent.list')).projects.map((p) => p.dir)).toEqual([projectDir]);

    const pts: Points = await ok('project.points');
    expect(pts.paths).toHaveLength(150);
    expect(pts.paths[0]).toBe('img-00000.png');
    for (const col of [pts.x, pts.y, pts.cluster, pts.reconstructionError, pts.outlierScore, pts.label]) expect(col).toHaveLength(150);
    expect(pts.x.every(Number.isFinite)).toBe(true);
    expect(new Set(pts.cluster)).toEqual(new Set([0, 1, 2, 3]));
    expect(pts.label.every((l) => l === '')).toBe(true);

    const sim = await ok('similar', { path: 'img-00003.png', top: 5 });
    expect(sim.query).toBe('img-00003.png');
    expect(sim.neighbours).toHaveLength(5);
    expect(sim.neighbours.map((n) => n.path)).not.toContain('img-00003.png');
    await fails('similar', { path: '/etc/passwd' }, 404, 'not_found');
    const out = await ok('outliers', { top: 7 });
    expect(out.items).toHaveLength(7);
    expect(out.items[0].score).toBeGreaterThanOrEqual(out.items[6].score);

    const demo = await ok('demo.open');
    expect(demo.jobId).toBeNull();
    expect(demo.state?.dir).toBe(projectDir);
  });

  it('labels clusters and selections, renames, deletes, undoes and redoes, with labels.changed events', async () => {
    const ev = events();
    await ev.connected;
    const pts: Points = await ok('project.points');
    const c0 = pts.cluster.filter((c) => c === 0).length;
    const changed = ev.until((e) => e.type === 'labels.changed');
    const r1 = await ok('labels.cluster', { cluster: 0, label: 'Shoe' });
    expect(r1.count).toBe(c0);
    expect(r1.description).toMatch(/label "Shoe" on \d+ images \(cluster 0\)/);
    const e = (await changed).at(-1)!;
    expect(e.type === 'labels.changed' && e.state.labeled).toBe(c0);
    await fails('labels.cluster', { cluster: 9, label: 'x' }, 400, 'bad_request', /cluster 9 does not exist/);

    const r2 = await ok('labels.assign', { paths: ['img-00001.png', 'img-00002.png'], label: 'Coat', source: 'selection' });
    expect(r2.count).toBe(2);
    await fails('labels.assign', { paths: ['../x.png'], label: 'Coat', source: 'single' }, 404, 'not_found');
    const r3 = await ok('labels.rename', { from: 'Coat', to: 'Jacket' });
    expect(r3.state.labels.map((l) => l.label)).toContain('Jacket');
    const r4 = await ok('labels.delete', { label: 'Jacket' });
    expect(r4.state.labels.map((l) => l.label)).not.toContain('Jacket');
    const u = await ok('labels.undo');
    expect(u.description).toMatch(/^undid: delete label "Jacket"/);
    expect(u.state.canRedo).toBe(true);
    const rd = await ok('labels.redo');
    expect(rd.description).toMatch(/^redid: /);
    await ok('labels.undo');
    const pts2: Points = await ok('project.points');
    expect(pts2.label[1]).toBe('Jacket');
    ev.close();
  });

  it('exports the CSV as text or to a file', async () => {
    const r = await ok('export.csv');
    expect(r.rows).toBe(150);
    expect(r.csv!.split('\r\n')[0]).toBe('path,label,label_source,cluster,x,y,reconstruction_error,outlier_score,duplicate_of');
    expect(r.csv).toContain('img-00001.png,Jacket,selection,');
    const out = join(tmp, 'out.csv');
    const w = await ok('export.csv', { out });
    expect(w).toMatchObject({ rows: 150, out });
    expect(await readFile(out, 'utf8')).toBe(r.csv);
    await fails('export.csv', { out: join(tmp, 'out.sh') }, 400, 'bad_request', /\.csv/);
  });

  it('serves images and thumbnails from inside the dataset only', async () => {
    const q = (p: string, thumb = false) => raw(`/image?path=${encodeURIComponent(p)}${thumb ? '&thumb=1' : ''}&token=${server.token}`);
    const full = await q('img-00000.png');
    expect(full.status).toBe(200);
    expect(full.headers['content-type']).toBe('image/png');
    expect(full.body.equals(await readFile(join(imagesDir, 'img-00000.png')))).toBe(true);
    const th = await q('img-00000.png', true);
    expect(th.status).toBe(200);
    expect(await sharp(th.body).metadata()).toMatchObject({ width: 96, height: 96, format: 'png' });
    expect((await q('../secret.png')).status).toBe(403);
    expect((await raw(`/image?path=..%2Fsecret.png&token=${server.token}`)).status).toBe(403);
    expect((await q(join(tmp, 'secret.png'))).status).toBe(403);
    expect((await q('zz-link-out.png')).status).toBe(403);
    expect((await q('img-00000.png\0.png')).status).toBe(403);
    expect((await q('../../etc/passwd')).status).toBe(403);
    expect((await q('missing.png')).status).toBe(404);
    const r = await q('../secret.png');
    expect(JSON.parse(r.body.toString())).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('searches by an outside image, scores it, and reconstructs project images', async () => {
    const bytes = await readFile(join(imagesDir, 'img-00003.png'));
    const r = await ok('similar.image', { name: 'dropped.png', data: bytes.toString('base64'), top: 5 });
    expect(r.query).toBe('dropped.png');
    expect(r.neighbours).toHaveLength(5);
    // the same pixels through the same model: the stored image itself comes first, at distance ~0
    expect(r.neighbours[0].path).toBe('img-00003.png');
    expect(r.neighbours[0].distance).toBeLessThan(1e-3);
    expect(r.neighbours[1].distance).toBeGreaterThan(r.neighbours[0].distance);
    expect(r.score).not.toBeNull(); // earlier tests left labels
    expect(r.score!.score).toBeGreaterThanOrEqual(0);
    expect(r.score!.score).toBeLessThanOrEqual(1);
    await fails('similar.image', { name: 'notes.png', data: Buffer.from('not an image at all').toString('base64') }, 400, 'bad_request', /^notes\.png: /);
    await fails('similar.image', { name: 'x.png', data: 'not base64!' }, 400, 'bad_request', /base64/);
    await fails('similar.image', { name: 'huge.png', data: 'A'.repeat(MAX_IMAGE_BASE64 + 4) }, 400, 'bad_request', /too large \(at most 32 MB\)/);

    const pts: Points = await ok('project.points');
    const rec = await ok('image.reconstruction', { path: 'img-00000.png' });
    expect(rec).toMatchObject({ size: 16, channels: 1 });
    for (const url of [rec.original, rec.reconstruction]) {
      expect(url).toMatch(/^data:image\/png;base64,/);
      expect(await sharp(Buffer.from(url.split(',')[1], 'base64')).metadata()).toMatchObject({ width: 16, height: 16, format: 'png' });
    }
    expect(rec.original).not.toBe(rec.reconstruction);
    // the error the pipeline stored for this image, up to the reconstruction's rounding to 8 bits
    expect(Math.abs(rec.error - pts.reconstructionError[0])).toBeLessThan(0.1 * pts.reconstructionError[0] + 1e-3);
    await fails('image.reconstruction', { path: '../secret.png' }, 404, 'not_found');
  });

  it('merges clusters and undoes the merge, with clusters.changed events', async () => {
    const ev = events();
    await ev.connected;
    const before: Points = await ok('project.points');
    const sizes = [0, 1, 2, 3].map((c) => before.cluster.filter((v) => v === c).length);
    const changed = ev.until((e) => e.type === 'clusters.changed');
    const m = await ok('clusters.merge', { clusters: [3, 1] });
    expect(m.description).toBe(`merged clusters 1, 3 into 1 (${sizes[3]} images moved)`);
    expect(m.state.clusters).toMatchObject({ k: 4, merges: 1, sizes: [sizes[0], sizes[1] + sizes[3], sizes[2], 0] });
    expect((await changed).at(-1)!.type).toBe('clusters.changed');
    const after: Points = await ok('project.points');
    before.cluster.forEach((c, i) => expect(after.cluster[i]).toBe(c === 3 ? 1 : c));
    // labeling the merged cluster labels both former clusters
    const lab = await ok('labels.cluster', { cluster: 1, label: 'Merged' });
    expect(lab.count).toBe(sizes[1] + sizes[3]);
    await ok('labels.undo');
    await fails('clusters.merge', { clusters: [3, 0] }, 400, 'bad_request', /cluster 3 is empty/);
    await fails('clusters.merge', { clusters: [2] }, 400, 'bad_request');
    await fails('clusters.merge', { clusters: [2, 9] }, 400, 'bad_request', /cluster 9 does not exist/);
    const u = await ok('clusters.unmerge');
    expect(u.description).toBe(`undid the merge of clusters 1, 3 (${sizes[3]} images moved back)`);
    expect(u.state.clusters).toMatchObject({ merges: 0, sizes });
    expect((await ok('project.points')).cluster).toEqual(before.cluster);
    expect((await ok('clusters.unmerge')).description).toBe('nothing to undo');
    ev.close();
  });

  it('runs analyze.start in a worker: progress and job.done over SSE, then the new project is open', async () => {
    const ev = events();
    await ev.connected;
    const project2 = join(tmp, 'project2');
    // 25 clusters: the map of the codes and the shape descriptor (--map-features auto)
    const { jobId } = await ok('analyze.start', { folder: imagesDir, project: project2, settings: { ...FAST, k: 25 } });
    expect(jobId).toMatch(/[0-9a-f-]{36}/);
    await fails('analyze.start', { folder: imagesDir, project: join(tmp, 'project3') }, 409, 'busy');
    await fails('demo.open', {}, 409, 'busy');
    const all = await ev.until((e) => (e.type === 'job.done' || e.type === 'job.failed') && e.jobId === jobId);
    const last = all.at(-1)!;
    expect(last, JSON.stringify(last)).toMatchObject({ type: 'job.done', jobId });
    expect(last.type === 'job.done' && (last.state as ProjectState).dir).toBe(project2);
    const steps = new Set(all.filter((e) => e.type === 'progress').map((e) => (e.type === 'progress' ? e.step : '')));
    expect(steps).toContain('train');
    expect(steps).toContain('tsne');
    expect(steps).toContain('descriptor');
    const frames = all.filter((e) => e.type === 'frame');
    for (const f of frames) if (f.type === 'frame') expect(f.x.every((v) => Math.round(v * 1000) / 1000 === v)).toBe(true);
    expect((await ok('project.state')).dir).toBe(project2);
    const state = await ok('project.state');
    expect(state.clusters?.k).toBe(25);
    expect(state.settings.mapFeatures).toBe('auto');
    expect(state.projection).toMatchObject({ features: 'codes+hog', method: expect.stringMatching(/of the codes and the shape descriptor$/) });
    ev.close();
  }, 60_000);

  it('cancels a job: job.failed with cancelled: true', async () => {
    const ev = events();
    await ev.connected;
    const { jobId } = await ok('analyze.start', { folder: imagesDir, project: join(tmp, 'project-cancelled'), settings: FAST });
    expect(await ok('job.cancel', { jobId: 'other' })).toEqual({ cancelled: false });
    expect(await ok('job.cancel', { jobId })).toEqual({ cancelled: true });
    const last = (await ev.until((e) => (e.type === 'job.done' || e.type === 'job.failed') && e.jobId === jobId)).at(-1)!;
    expect(last).toMatchObject({ type: 'job.failed', jobId, cancelled: true });
    await fails('analyze.start', { folder: join(tmp, 'no-such-folder'), project: join(tmp, 'p4') }, 404, 'not_found');
    ev.close();
  }, 60_000);

  it('keeps acknowledged label edits across a new Session on the same project', async () => {
    await ok('project.open', { dir: projectDir });
    const r = await ok('labels.assign', { paths: ['img-00010.png'], label: 'Bag', source: 'single' });
    const labeled = r.state.labeled;
    expect(existsSync(join(projectDir, 'labels.journal'))).toBe(true);
    // A second session (as after a restart) sees every confirmed edit, without closing the first.
    const s2 = new Session({ mode: 'electron', stateDir: join(tmp, 'state2') });
    try {
      const st = (await s2.handle('project.open', { dir: projectDir })) as ProjectState;
      expect(st.labeled).toBe(labeled);
      expect(st.labels.find((l) => l.label === 'Bag')?.count).toBe(1);
      expect(st.canUndo).toBe(true);
      const pts = (await s2.handle('project.points', {})) as Points;
      expect(pts.label[10]).toBe('Bag');
    } finally {
      await s2.close();
    }
  });
});

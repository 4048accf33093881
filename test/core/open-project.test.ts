import { beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openProject } from '../../src/core/open-project.js';
import { ProjectStore } from '../../src/core/project.js';
import { DEFAULTS } from '../../src/core/defaults.js';
import { readNpy } from '../../src/core/npy.js';
import { analyze } from '../../src/core/pipeline.js';
import { exportEmbeddingsCommand, outliersCommand, scoreCommand, similarCommand } from '../../src/cli/similarity.js';
import { gaussian, seededRandom } from '../../src/core/random.js';
import { UserError } from '../../src/core/types.js';

const N = 90;
const D = 8;
const PLANTED = 77;

/** Seeded blobs A, B, C (row i in blob i % 3), one far-away row, and two rows with the same content hash. */
async function syntheticProject(tmp: string): Promise<{ dir: string; codes: Float32Array; paths: string[] }> {
  const r = seededRandom(5);
  const centres = Array.from({ length: 3 * D }, () => (r() * 2 - 1) * 6);
  const codes = new Float32Array(N * D);
  for (let i = 0; i < N; i++) for (let t = 0; t < D; t++) codes[i * D + t] = centres[(i % 3) * D + t] + gaussian(r);
  for (let t = 0; t < D; t++) codes[PLANTED * D + t] = 40;
  codes.set(codes.subarray(3 * D, 4 * D), 63 * D); // row 63 = a copy of row 3 (same blob: 63 % 3 === 0)
  const errors = Float32Array.from({ length: N }, () => Math.exp(-4 + 0.3 * gaussian(r)));
  const paths = Array.from({ length: N }, (_, i) => `${'ABC'[i % 3]}/img-${String(i).padStart(3, '0')}.png`);
  const root = join(tmp, 'imgs');
  await mkdir(root, { recursive: true });
  const dir = join(tmp, 'synthetic');
  const store = await ProjectStore.create(dir, { datasetRoot: root, settings: { ...DEFAULTS, size: 16, latent: D }, channels: 1 });
  store.manifest.images = paths.map((path, i) => ({ path, hash: i === 63 ? 'hash-3' : `hash-${i}`, bytes: 100, mtimeMs: 0 }));
  await store.writeArray('codes', codes, [N, D]);
  await store.writeArray('errors', errors, [N]);
  await store.save();
  const labels = await store.openLabels();
  try {
    for (const l of ['A', 'B', 'C']) await labels.assign(paths.filter((p, i) => p.startsWith(l) && i < 45), l, 'selection');
  } finally {
    await labels.close();
  }
  return { dir, codes, paths };
}

/** Expect a UserError with a one-line message matching `re`. */
async function expectUserError(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(re);
  expect((err as Error).message).not.toContain('\n');
}

describe('openProject on a project with codes but no model', () => {
  let tmp: string;
  let project: { dir: string; codes: Float32Array; paths: string[] };
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cl-open-'));
    project = await syntheticProject(tmp);
  });

  it('similar: by project path, by row, by vector; neighbours from the same blob, never the query itself', async () => {
    const p = await openProject(project.dir);
    try {
      const byPath = await p.similar('B/img-004.png', { top: 5 });
      expect(byPath).toHaveLength(5);
      for (const x of byPath) expect(x.path.startsWith('B/')).toBe(true);
      expect(byPath.some((x) => x.index === 4)).toBe(false);
      expect(await p.similar(4, { top: 5 })).toEqual(byPath);
      const vec = project.codes.slice(4 * D, 5 * D);
      const byVector = await p.similar(vec, { top: 1, metric: 'cosine' });
      expect(byVector[0]).toMatchObject({ index: 4, path: 'B/img-004.png' });
      expect(byVector[0].distance).toBeLessThan(1e-6);
      // The exact copy of row 3 is its nearest neighbour at distance 0.
      expect((await p.similar('A/img-003.png', { top: 1 }))[0]).toEqual({ path: 'A/img-063.png', index: 63, distance: 0 });
    } finally {
      await p.close();
    }
  });

  it('outliers: the planted row comes first and is flagged', async () => {
    const p = await openProject(project.dir);
    try {
      const top = await p.outliers({ top: 3 });
      expect(top[0]).toMatchObject({ index: PLANTED, flagged: true });
      expect(top[0].reconstructionError).toBeGreaterThan(0);
      const flagged = await p.outliers();
      expect(flagged.every((x) => x.flagged)).toBe(true);
      expect(flagged.length).toBeLessThan(N / 5);
    } finally {
      await p.close();
    }
  });

  it('duplicates: exact ones from the content hashes', async () => {
    const p = await openProject(project.dir);
    try {
      expect(await p.duplicates()).toEqual([{ path: 'A/img-063.png', duplicateOf: 'A/img-003.png', kind: 'exact', distance: 0 }]);
    } finally {
      await p.close();
    }
  });

  it('score: unlabeled project images get their blob\'s label; labeled ones are scored leave-one-out', async () => {
    const p = await openProject(project.dir);
    try {
      const res = await p.score(['C/img-050.png', 'A/img-051.png', 'B/img-001.png']);
      expect(res.map((x) => x.label)).toEqual(['C', 'A', 'B']);
      for (const x of res) {
        expect(x.outlier).toBe(false);
        expect(Object.keys(x.scores).sort()).toEqual(['A', 'B', 'C']);
      }
      // Leave-one-out: a labeled image does not score 1 just by matching itself.
      expect(res[2].scores.B).toBeLessThan(1);
      expect(res[2].nearest?.path).not.toBe('B/img-001.png');
      const planted = await p.score(project.paths[PLANTED]);
      expect(planted.outlier).toBe(true);
    } finally {
      await p.close();
    }
  });

  it('export-embeddings: .npy round trip is byte-exact, in project order; .csv has path,e0..', async () => {
    const out = join(tmp, 'emb.npy');
    const lines: string[] = [];
    await exportEmbeddingsCommand(project.dir, { out }, (t) => lines.push(t));
    expect(lines.join('')).toMatch(/wrote 90×8 float32 embeddings/);
    const back = await readNpy(out);
    expect(back.shape).toEqual([N, D]);
    expect(back.data).toBeInstanceOf(Float32Array);
    expect(Buffer.from((back.data as Float32Array).buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(project.codes.buffer))).toBe(true);
    expect((await readFile(out)).equals(await readFile(join(project.dir, 'codes.npy')))).toBe(true);

    const csv = join(tmp, 'emb.csv');
    await exportEmbeddingsCommand(project.dir, { out: csv }, () => {});
    const rows = (await readFile(csv, 'utf8')).trim().split(/\r?\n/);
    expect(rows[0]).toBe(['path', ...Array.from({ length: D }, (_, t) => `e${t}`)].join(','));
    expect(rows).toHaveLength(N + 1);
    const cells = rows[5].split(',');
    expect(cells[0]).toBe(project.paths[4]);
    expect(cells.slice(1).map((v) => Math.fround(Number(v)))).toEqual(Array.from(project.codes.subarray(4 * D, 5 * D)));
    await expectUserError(exportEmbeddingsCommand(project.dir, { out: join(tmp, 'emb.txt') }, () => {}), /must end in \.npy or \.csv/);
  });

  it('CLI commands print results and fail with one clear line', async () => {
    const out: string[] = [];
    await similarCommand(project.dir, 'A/img-003.png', { top: 2, json: true }, (t) => out.push(t));
    expect(JSON.parse(out[0]).results[0].path).toBe('A/img-063.png');
    out.length = 0;
    await outliersCommand(project.dir, { top: 1, json: true }, (t) => out.push(t));
    expect(JSON.parse(out[0]).results[0].index).toBe(PLANTED);
    out.length = 0;
    await scoreCommand(project.dir, ['C/img-050.png'], { json: true }, (t) => out.push(t));
    expect(JSON.parse(out[0])).toMatchObject({ path: 'C/img-050.png', label: 'C', outlier: false });

    const text = join(tmp, 'notes.png');
    await writeFile(text, 'this is not an image');
    await expectUserError(similarCommand(join(tmp, 'nope'), 'x.png', {}, () => {}), /project not found/);
    await expectUserError(similarCommand(project.dir, text, {}, () => {}), /cannot decode/);
    await expectUserError(similarCommand(project.dir, join(tmp, 'missing.png'), {}, () => {}), /not an image of the project and no such file/);
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
    await writeFile(join(tmp, 'outside.png'), png);
    await expectUserError(similarCommand(project.dir, join(tmp, 'outside.png'), {}, () => {}), /no model/);
    await expectUserError(scoreCommand(project.dir, [join(tmp, 'outside.png')], {}, () => {}), /no model/);
    await expectUserError(similarCommand(project.dir, '999', {}, () => {}), /out of range/);
  });
});

describe('openProject on an analyzed project: images outside the project go through the model', () => {
  it('an outside copy of a project image finds that image at distance ~0, and can be scored', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'cl-open-model-'));
    const folder = join(tmp, 'imgs');
    await mkdir(folder);
    const r = seededRandom(9);
    // Three kinds of 16×16 grey images: horizontal ramps, vertical ramps, checkerboards, with noise.
    const files: string[] = [];
    for (let i = 0; i < 36; i++) {
      const kind = i % 3;
      const px = Buffer.alloc(16 * 16);
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const v = kind === 0 ? x * 16 : kind === 1 ? y * 16 : ((x >> 2) + (y >> 2)) % 2 ? 230 : 20;
          px[y * 16 + x] = Math.max(0, Math.min(255, v + Math.round(gaussian(r) * 10)));
        }
      }
      const name = `${'hvc'[kind]}-${String(i).padStart(2, '0')}.png`;
      await writeFile(join(folder, name), await sharp(px, { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer());
      files.push(name);
    }
    const dir = join(tmp, 'p');
    await analyze({ folder, project: dir, size: 16, latent: 8, epochs: 1, k: 3, seed: 3 });
    const store = await ProjectStore.open(dir);
    const labels = await store.openLabels();
    await labels.assign(store.manifest.images.filter((img) => img.path.startsWith('h')).map((img) => img.path), 'horizontal', 'selection');
    await labels.close();

    const copy = join(tmp, 'copy.png');
    await writeFile(copy, await readFile(join(folder, 'v-04.png')));
    const p = await openProject(dir);
    try {
      const res = await p.similar(copy, { top: 3 });
      expect(res[0].path).toBe('v-04.png');
      expect(res[0].distance).toBeLessThan(1e-3);
      const scored = await p.score([copy, await readFile(join(folder, 'h-03.png'))]);
      expect(scored).toHaveLength(2);
      expect(scored[0].input).toBe(copy);
      expect(scored[1].input).toBe('<buffer 1>');
      expect(Object.keys(scored[1].scores)).toEqual(['horizontal']);
      expect(scored[1].nearest).toEqual({ path: 'h-03.png', distance: expect.any(Number) });
      expect(scored[1].nearest!.distance).toBeLessThan(1e-3);
    } finally {
      await p.close();
    }
  });
});

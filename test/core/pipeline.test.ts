import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, copyFile, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { analyze, type AnalyzeOptions } from '../../src/core/pipeline.js';
import { ProjectStore } from '../../src/core/project.js';
import { exportCsv, importLabels, labelClusters, labelPaths } from '../../src/core/operations.js';
import { ensureDemoFolder, type DemoFolder } from '../../src/core/demo.js';
import { CancelledError } from '../../src/core/types.js';
import { writeNpy } from '../../src/core/npy.js';

// Small and quick: 300 real Fashion-MNIST images, 16×16, one epoch.
const FAST: Partial<AnalyzeOptions> = { size: 16, epochs: 1, latent: 8, k: 4, seed: 7 };

describe('pipeline: the project store redoes only what changed', () => {
  let demo: DemoFolder;
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cl-pipe-'));
    demo = await ensureDemoFolder({ limit: 300, dir: join(tmp, 'demo') });
  });

  it('builds, re-opens without work, re-clusters only on a new k, and decodes only new images', async () => {
    const folder = join(tmp, 'imgs');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(folder);
    const files = (await readdir(demo.imagesDir)).sort();
    for (const f of files.slice(0, 250)) await copyFile(join(demo.imagesDir, f), join(folder, f));
    const project = join(tmp, 'p1');

    const first = await analyze({ folder, project, ...FAST });
    expect(first.images).toBe(250);
    expect(first.trained).toBe(true);
    expect(Object.keys(first.timings)).toEqual(expect.arrayContaining(['scan', 'decode', 'train', 'encode', 'outliers', 'kmeans', 'tsne']));
    const store = await ProjectStore.open(project);
    expect(store.n).toBe(250);
    expect((await store.readFloat('codes')).shape).toEqual([250, 8]);
    expect((await store.readFloat('coords')).shape).toEqual([250, 2]);

    // labels survive re-analysis (they are keyed by path)
    await labelClusters(store, [{ cluster: 0, label: 'zero' }]);
    const zeroCount = first.clusterSizes[0];

    // nothing changed: nothing is redone
    const again = await analyze({ folder, project });
    expect(again.trained).toBe(false);
    expect(Object.keys(again.timings)).toEqual(['scan']);

    // another k: clustering only
    const k6 = await analyze({ folder, project, k: 6 });
    expect(Object.keys(k6.timings).sort()).toEqual(['kmeans', 'scan']);
    expect(k6.clusterSizes).toHaveLength(6);

    // a new project: the map has exaggeration 2 and 'auto' clusters with merge below 50 clusters
    const m0 = (await ProjectStore.open(project)).manifest;
    expect(m0.settings).toMatchObject({ clusterMethod: 'auto', mapExaggeration: 2, mapFeatures: 'auto' });
    expect(m0.projection).toMatchObject({ features: 'codes' }); // below 20 clusters
    expect(m0.descriptor).toBeUndefined();
    expect(m0.projection).toMatchObject({ exaggeration: 2, method: expect.stringMatching(/exaggeration 2$/) });
    expect(m0.clustering!.method).toBe('k-means then merged along the kNN graph on the 2-D map');

    // another cluster method: clustering only, recorded in the settings and the manifest; then kept
    const km = await analyze({ folder, project, clusterMethod: 'kmeans' });
    expect(Object.keys(km.timings).sort()).toEqual(['kmeans', 'scan']);
    expect((await ProjectStore.open(project)).manifest.clustering!.method).toBe('kmeans on the 2-D map');
    const merged = await analyze({ folder, project, clusterMethod: 'merge' });
    expect(Object.keys(merged.timings).sort()).toEqual(['kmeans', 'scan']);
    expect(merged.clusterSizes).toHaveLength(6);
    expect(merged.clusterSizes.reduce((a, b) => a + b, 0)).toBe(250);
    const mm = (await ProjectStore.open(project)).manifest;
    expect(mm.settings.clusterMethod).toBe('merge');
    expect(mm.clustering!.method).toBe('k-means then merged along the kNN graph on the 2-D map');
    expect(Object.keys((await analyze({ folder, project })).timings)).toEqual(['scan']);
    // 'manifold' on a map with exaggeration 2 is 'merge' on that map: no second t-SNE
    const man = await analyze({ folder, project, clusterMethod: 'manifold' });
    expect(Object.keys(man.timings).sort()).toEqual(['kmeans', 'scan']);
    // a classic map: the map is made again, and 'manifold' makes its own embedding once (cached)
    const classic = await analyze({ folder, project, mapExaggeration: 1 });
    expect(Object.keys(classic.timings).sort()).toEqual(['cluster-space', 'kmeans', 'scan', 'tsne']);
    expect((await ProjectStore.open(project)).manifest.projection).toMatchObject({ exaggeration: 1 });
    expect((await (await ProjectStore.open(project)).readFloat('clusterSpace')).shape).toEqual([250, 2]);
    const man5 = await analyze({ folder, project, k: 5 });
    expect(Object.keys(man5.timings).sort()).toEqual(['kmeans', 'scan']);
    expect(man5.clusterSizes).toHaveLength(5);
    expect((await ProjectStore.open(project)).manifest.clustering!.method).toMatch(/t-SNE of the codes with exaggeration 2/);
    const codesMap = (await (await ProjectStore.open(project)).readFloat('coords')).data;
    // from 20 clusters, 'auto' maps the codes and the shape descriptor: a descriptor, a new map, the old one kept
    const back = await analyze({ folder, project, clusterMethod: 'auto', k: 60 });
    expect(Object.keys(back.timings).sort()).toEqual(['descriptor', 'kmeans', 'scan', 'tsne']);
    const mb = await ProjectStore.open(project);
    expect(mb.manifest.clustering!.method).toBe('kmeans on the 2-D map'); // auto from 50 clusters
    expect(mb.manifest.projection).toMatchObject({ features: 'codes+hog', method: expect.stringMatching(/of the codes and the shape descriptor$/) });
    expect(mb.manifest.previousProjection).toMatchObject({ features: 'codes', exaggeration: 1 });
    expect((await mb.readFloat('descriptor')).shape).toEqual([250, 50]);
    expect(mb.manifest.descriptor).toMatchObject({ d: 50, hogDims: 7 * 7 * 36 }); // 16 px: cells of 2 px
    const hogMap = (await mb.readFloat('coords')).data;
    // back below 20 clusters: the codes' map returns without a new t-SNE; and forth again, also without
    const mapLogs: string[] = [];
    const k6back = await analyze({ folder, project, k: 6 }, { onLog: (l) => mapLogs.push(l) });
    expect(Object.keys(k6back.timings).sort()).toEqual(['kmeans', 'scan']);
    expect(mapLogs).toContain('map: the one made before, from the codes (kept, not made again)');
    const ms = await ProjectStore.open(project);
    expect(Array.from((await ms.readFloat('coords')).data)).toEqual(Array.from(codesMap));
    expect(Array.from((await ms.readFloat('coordsPrevious')).data)).toEqual(Array.from(hogMap));
    expect(ms.manifest.projection).toMatchObject({ features: 'codes' });
    const k30 = await analyze({ folder, project, k: 30 });
    expect(Object.keys(k30.timings).sort()).toEqual(['kmeans', 'scan']);
    expect(Array.from((await (await ProjectStore.open(project)).readFloat('coords')).data)).toEqual(Array.from(hogMap));
    // a fixed --map-features wins over the number of clusters
    const fixed = await analyze({ folder, project, k: 30, mapFeatures: 'codes' });
    expect(Object.keys(fixed.timings).sort()).toEqual(['kmeans', 'scan']);
    expect((await ProjectStore.open(project)).manifest).toMatchObject({ settings: { mapFeatures: 'codes' }, projection: { features: 'codes' } });
    await analyze({ folder, project, k: 6, mapFeatures: 'auto' });

    // new images: only they are decoded; the model is reused, never retrained silently
    for (const f of files.slice(250, 300)) await copyFile(join(demo.imagesDir, f), join(folder, f));
    await rm(join(folder, files[0]));
    const grown = await analyze({ folder, project });
    expect(grown.images).toBe(299);
    expect(grown.newImages).toBe(50);
    expect(grown.trained).toBe(false);
    expect(Object.keys(grown.timings).sort()).toEqual(['decode', 'encode', 'kmeans', 'outliers', 'scan', 'tsne']);
    // the maps of the old images are not kept for going back: their rows are other images
    const afterGrow = await ProjectStore.open(project);
    expect(afterGrow.manifest.previousProjection).toBeUndefined();
    expect(afterGrow.has('coordsPrevious')).toBe(false);

    const out = join(tmp, 'out.csv');
    const reopened = await ProjectStore.open(project);
    await exportCsv(reopened, out);
    const rows = parse(await readFile(out), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(299);
    const zero = rows.filter((r) => r.label === 'zero');
    expect(zero.length).toBeGreaterThanOrEqual(zeroCount - 1); // one image of cluster 0 may have been the deleted one
    expect(zero.length).toBeLessThanOrEqual(zeroCount);

    // changing a model setting retrains, and says why
    const logs: string[] = [];
    const re = await analyze({ folder, project, latent: 6 }, { onLog: (l) => logs.push(l) });
    expect(re.trained).toBe(true);
    expect(logs.join('\n')).toMatch(/retraining because settings changed \(latent 8 → 6\)/);
  });

  it('a cancelled run leaves the previous consistent project', async () => {
    const project = join(tmp, 'p2');
    await analyze({ folder: demo.imagesDir, project, ...FAST });
    const ac = new AbortController();
    const run = analyze({ folder: demo.imagesDir, project, retrain: true, epochs: 3 }, {
      signal: ac.signal,
      onProgress: (p) => { if (p.step === 'train' && p.done > 2) ac.abort(); },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    const store = await ProjectStore.open(project);
    expect(store.n).toBe(300);
    expect((await store.readClusters()).length).toBe(300);
    // and the next run finishes from there without retraining (the model on disk is the old, complete one)
    const after = await analyze({ folder: demo.imagesDir, project });
    expect(after.trained).toBe(false);
  });

  it('imports labels from a CSV, merging and reporting unknown paths', async () => {
    const project = join(tmp, 'p2');
    const store = await ProjectStore.open(project);
    await labelPaths(store, [store.manifest.images[0].path], 'first', 'single');
    const csv = join(tmp, 'in.csv');
    await writeFile(csv, `path,label\n${store.manifest.images[1].path},second\nnot/there.png,x\n`);
    const r = await importLabels(store, csv);
    expect(r.applied).toBe(1);
    expect(r.unknown).toEqual(['not/there.png']);
    const out = join(tmp, 'p2.csv');
    await exportCsv(store, out);
    const rows = parse(await readFile(out), { columns: true }) as Record<string, string>[];
    expect(rows.find((x) => x.path === store.manifest.images[0].path)?.label).toBe('first');
    expect(rows.find((x) => x.path === store.manifest.images[1].path)?.label_source).toBe('import');
  });

  it('imports precomputed embeddings (.npy and .csv) instead of training', async () => {
    const src = await ProjectStore.open(join(tmp, 'p2'));
    const { data: codes, shape } = await src.readFloat('codes');
    const npy = join(tmp, 'emb.npy');
    await writeNpy(npy, codes, shape);
    const project = join(tmp, 'p-emb');
    const s1 = await analyze({ folder: demo.imagesDir, project, embeddings: npy, k: 3, size: 16 });
    expect(s1.trained).toBe(false);
    expect(s1.backend).toMatch(/imported/);
    expect(s1.clusterSizes.reduce((a, b) => a + b, 0)).toBe(300);
    const store = await ProjectStore.open(project);
    expect(store.has('model')).toBe(false);
    expect(Buffer.from((await store.readFloat('codes')).data.buffer)).toEqual(Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength));
    // re-analysis keeps the imported codes (no training appears)
    const s2 = await analyze({ folder: demo.imagesDir, project, k: 4 });
    expect(Object.keys(s2.timings).sort()).toEqual(['kmeans', 'scan']);
    // imported embeddings are mapped alone, however many clusters, unless the descriptor is asked for
    const s30 = await analyze({ folder: demo.imagesDir, project, k: 30 });
    expect(Object.keys(s30.timings).sort()).toEqual(['kmeans', 'scan']);
    const withHog = await analyze({ folder: demo.imagesDir, project, k: 30, mapFeatures: 'codes+hog' });
    expect(Object.keys(withHog.timings).sort()).toEqual(['descriptor', 'kmeans', 'scan', 'tsne']);

    // CSV by path, in any row order; a missing row is one clear error
    const paths = src.manifest.images.map((i) => i.path);
    const d = shape[1];
    const lines = paths.map((p, i) => [p, ...Array.from(codes.subarray(i * d, (i + 1) * d))].join(',')).reverse();
    const csv = join(tmp, 'emb.csv');
    await writeFile(csv, ['path,' + Array.from({ length: d }, (_, t) => `e${t}`).join(','), ...lines].join('\n'));
    const s3 = await analyze({ folder: demo.imagesDir, project: join(tmp, 'p-emb-csv'), embeddings: csv, k: 3, size: 16 });
    expect(s3.images).toBe(300);
    await writeFile(csv, ['path,e0', `${paths[0]},1`].join('\n'));
    await expect(analyze({ folder: demo.imagesDir, project: join(tmp, 'p-emb-bad'), embeddings: csv, size: 16 })).rejects.toThrow(/no embedding for 299 of the 300 images/);
  });
});

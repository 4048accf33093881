/** Merging clusters by hand and undoing merges, on a small project store (no images needed). */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectStore } from '../../src/core/project.js';
import { mergeClusters, unmergeClusters } from '../../src/core/operations.js';

let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function store(clusters: number[], k: number): Promise<ProjectStore> {
  dir = await mkdtemp(join(tmpdir(), 'clusterlens-merge-'));
  const s = await ProjectStore.create(join(dir, 'p'), {
    datasetRoot: dir,
    channels: 1,
    settings: { size: 8, color: 'auto', latent: 2, preset: 'small', epochs: 1, sample: 10, seed: 1, projector: 'bh', clusterOn: 'map' },
  });
  s.manifest.images = clusters.map((_, i) => ({ path: `${i}.png`, hash: String(i), bytes: 1, mtimeMs: 0 }));
  const sizes = Array.from({ length: k }, (_, c) => clusters.filter((v) => v === c).length);
  s.manifest.clustering = { method: 'test', k, seed: 1, sizes, inertia: 0, iterations: 0, codesFor: 'x' };
  await s.writeArray('clusters', Int32Array.from(clusters), [clusters.length]);
  await s.save();
  return s;
}

describe('mergeClusters / unmergeClusters', () => {
  it('merges into the lowest id, keeps ids stable, and undoes merges one at a time', async () => {
    const original = [0, 1, 2, 3, 4, 1, 2, 3, 4, 4];
    const s = await store(original, 5);
    const m1 = await mergeClusters(s, [4, 2]);
    expect(m1).toMatchObject({ into: 2, from: [4], moved: 3, sizes: [1, 2, 5, 2, 0] });
    const m2 = await mergeClusters(s, [3, 0, 2]);
    expect(m2).toMatchObject({ into: 0, from: [2, 3], moved: 7, sizes: [8, 2, 0, 0, 0] });
    // persisted: a fresh store reads the merged clusters and the merge list
    const again = await ProjectStore.open(s.dir);
    expect(Array.from(await again.readClusters())).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(again.manifest.clustering?.merges).toEqual([{ into: 2, from: [4] }, { into: 0, from: [2, 3] }]);
    await expect(mergeClusters(again, [2, 1])).rejects.toThrow(/cluster 2 is empty/);
    await expect(mergeClusters(again, [1, 1])).rejects.toThrow(/at least two/);
    await expect(mergeClusters(again, [1, 7])).rejects.toThrow(/cluster 7 does not exist/);

    const u2 = await unmergeClusters(again);
    expect(u2).toMatchObject({ into: 0, from: [2, 3], moved: 7 });
    expect(Array.from(await again.readClusters())).toEqual([0, 1, 2, 3, 2, 1, 2, 3, 2, 2]);
    const u1 = await unmergeClusters(again);
    expect(u1).toMatchObject({ into: 2, from: [4], moved: 3, sizes: [1, 2, 2, 2, 3] });
    expect(Array.from(await again.readClusters())).toEqual(original);
    expect(again.manifest.clustering?.merges).toBeUndefined();
    expect(await unmergeClusters(again)).toBeNull();
  });

  it('refuses a project without clusters', async () => {
    const s = await store([0, 0], 1);
    s.manifest.clustering = undefined;
    await expect(mergeClusters(s, [0, 1])).rejects.toThrow(/no clusters yet/);
  });
});

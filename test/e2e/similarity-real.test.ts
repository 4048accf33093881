import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, mkdir, copyFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { analyze } from '../../src/core/pipeline.js';
import { ProjectStore } from '../../src/core/project.js';
import { labelClusters } from '../../src/core/operations.js';
import { openProject } from '../../src/core/open-project.js';
import { ensureDemoFolder, demoImageName, type DemoFolder } from '../../src/core/demo.js';
import { seededRandom } from '../../src/core/random.js';

/** The embedding as a similarity function, on real Fashion-MNIST: 2,000 images in the project, 1,000 held out. */
describe('similarity on real images', () => {
  let demo: DemoFolder;
  let project: string;
  let folder: string;
  beforeAll(async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'cl-sim-'));
    demo = await ensureDemoFolder({ dir: join(tmp, 'demo') });
    folder = join(tmp, 'imgs');
    await mkdir(folder);
    for (let i = 0; i < 2000; i++) await copyFile(join(demo.imagesDir, demoImageName(i)), join(folder, demoImageName(i)));
    // one planted out-of-distribution image: uniform noise
    const r = seededRandom(5);
    const noise = Buffer.from(Array.from({ length: 28 * 28 }, () => Math.floor(r() * 256)));
    await sharp(noise, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(folder, 'zz-noise.png'));
    await writeFile(join(folder, 'notes.txt'), 'not an image');
    project = join(tmp, 'project');
    await analyze({ folder, project, size: 28, k: 50 });
  }, 300_000);

  it('a planted noise image ranks in the top 1% of outliers', async () => {
    const p = await openProject(project);
    try {
      const top = await p.outliers({ top: 20 });
      expect(top.map((o) => o.path)).toContain('zz-noise.png');
    } finally {
      await p.close();
    }
  });

  it('held-out images score their true class first ≥ 70% of the time when clusters are labeled by majority class', async () => {
    const store = await ProjectStore.open(project);
    const clusters = await store.readClusters();
    const votes = new Map<number, Map<string, number>>();
    store.manifest.images.forEach((img, i) => {
      const t = demo.truth.get(img.path);
      if (!t) return;
      const m = votes.get(clusters[i]) ?? new Map<string, number>();
      m.set(t, (m.get(t) ?? 0) + 1);
      votes.set(clusters[i], m);
    });
    await labelClusters(store, [...votes].map(([cluster, m]) => ({ cluster, label: [...m].sort((a, b) => b[1] - a[1])[0][0] })));
    const heldOut = Array.from({ length: 1000 }, (_, i) => join(demo.imagesDir, demoImageName(2000 + i)));
    const p = await openProject(project);
    try {
      const results = (await p.score(heldOut)) as { label?: string | null }[];
      const correct = results.filter((r, i) => r.label === demo.truth.get(demoImageName(2000 + i))).length / results.length;
      console.log(`held-out scoring: ${(100 * correct).toFixed(1)}% of 1,000 ranked their true class first`);
      expect(correct).toBeGreaterThanOrEqual(0.7);
    } finally {
      await p.close();
    }
  });
});

import { describe, it, expect, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { ensureDemoFolder, type DemoFolder } from '../../src/core/demo.js';
import { purity } from '../../src/core/metrics.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'clusterlens.js');

/** The real CLI as a user runs it (compiled by `npm test`'s build step). */
function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: 'true' } });
}

describe('end to end on 2,000 real Fashion-MNIST images', () => {
  let tmp: string;
  let demo: DemoFolder;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'clusterlens-e2e-'));
    demo = await ensureDemoFolder({ limit: 2000, dir: join(tmp, 'data') });
  });

  it('analyze → label clusters → export gives 2,000 rows with labels, and clusters of purity ≥ 0.57 at k=10', async () => {
    const project = join(tmp, 'project');
    const a = await cli('analyze', demo.imagesDir, '--project', project, '--k', '10', '--size', '28', '--json');
    const summary = JSON.parse(a.stdout.trim().split('\n').pop()!);
    expect(summary.images).toBe(2000);
    expect(summary.skipped).toEqual([]);
    expect(summary.k).toBe(10);
    expect(summary.clusterSizes.reduce((x: number, y: number) => x + y, 0)).toBe(2000);
    expect(summary.trained).toBe(true);
    expect(Number.isFinite(summary.finalLoss)).toBe(true);
    // progress bars went to stderr, not stdout
    expect(a.stderr).toMatch(/train/);

    // Label every cluster by the majority true class of its members, as a person looking at the map would.
    const info = JSON.parse((await cli('info', project, '--json')).stdout);
    expect(info.images).toBe(2000);
    const exported0 = join(tmp, 'before.csv');
    await cli('export', project, '--out', exported0);
    const rows0 = parse(await readFile(exported0), { columns: true }) as Record<string, string>[];
    const byCluster = new Map<string, Map<string, number>>();
    for (const r of rows0) {
      const m = byCluster.get(r.cluster) ?? new Map<string, number>();
      const t = demo.truth.get(r.path)!;
      m.set(t, (m.get(t) ?? 0) + 1);
      byCluster.set(r.cluster, m);
    }
    const args: string[] = [];
    for (const [c, counts] of byCluster) {
      const best = [...counts.entries()].sort((x, y) => y[1] - x[1])[0][0];
      args.push('--cluster', c, '--as', best);
    }
    await cli('label', project, ...args);

    const out = join(tmp, 'labels.csv');
    await cli('export', project, '--out', out);
    const rows = parse(await readFile(out), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(2000);
    expect(Object.keys(rows[0])).toEqual(['path', 'label', 'label_source', 'cluster', 'x', 'y', 'reconstruction_error', 'outlier_score', 'duplicate_of']);
    expect(new Set(rows.map((r) => r.path)).size).toBe(2000);
    expect(rows.every((r) => r.label !== '' && r.label_source === 'cluster')).toBe(true);
    expect(rows.every((r) => Number.isFinite(Number(r.x)) && Number.isFinite(Number(r.y)) && Number(r.reconstruction_error) >= 0)).toBe(true);

    const classes = [...new Set(demo.truth.values())];
    const truth = Int32Array.from(rows, (r) => classes.indexOf(demo.truth.get(r.path)!));
    const pred = Int32Array.from(rows, (r) => Number(r.cluster));
    const p = purity(pred, truth);
    console.log(`e2e: purity at k=10 on 2,000 Fashion-MNIST images = ${p.toFixed(3)}; seconds per step ${JSON.stringify(summary.timings)}`);
    // regression floor for the defaults (exaggeration-2 map, 'auto' = merge at k=10): measured 0.600–0.633 over
    // seeds 1–3 on these 2,000 images; the floor leaves ~0.03 for seed noise
    expect(p).toBeGreaterThanOrEqual(0.57);
    // labeling each cluster by its majority class makes exactly `purity` of the rows right
    const correct = rows.filter((r) => r.label === demo.truth.get(r.path)).length / rows.length;
    expect(correct).toBeCloseTo(p, 10);

    // 50 clusters, as a person over-clustering to label in bulk: 'auto' maps the codes and the shape descriptor
    // (measured on these 2,000 images, seeds 1–3: purity 0.772–0.784, against 0.715–0.727 on the codes' map)
    const exportedPurity = async () => {
      const file = join(tmp, 'k.csv');
      await cli('export', project, '--out', file);
      const r = parse(await readFile(file), { columns: true }) as Record<string, string>[];
      return purity(Int32Array.from(r, (x) => Number(x.cluster)), Int32Array.from(r, (x) => classes.indexOf(demo.truth.get(x.path)!)));
    };
    const last = (r: { stdout: string }) => JSON.parse(r.stdout.trim().split('\n').pop()!) as { trained: boolean; k: number; timings: Record<string, number>; projection: { method: string } };
    const f = last(await cli('analyze', demo.imagesDir, '--project', project, '--k', '50', '--json'));
    expect(f.trained).toBe(false);
    expect(Object.keys(f.timings).sort()).toEqual(['descriptor', 'kmeans', 'scan', 'tsne']);
    expect(f.projection.method).toMatch(/of the codes and the shape descriptor$/);
    const p50 = await exportedPurity();
    // the codes' map comes back without a t-SNE, and its 50 clusters are less pure
    const g = last(await cli('analyze', demo.imagesDir, '--project', project, '--k', '50', '--map-features', 'codes', '--json'));
    expect(Object.keys(g.timings).sort()).toEqual(['kmeans', 'scan']);
    const p50codes = await exportedPurity();
    console.log(`e2e: purity at k=50 = ${p50.toFixed(3)} on the map of the codes and the shape descriptor, ${p50codes.toFixed(3)} on the codes' map`);
    expect(p50).toBeGreaterThanOrEqual(0.74);
    expect(p50 - p50codes).toBeGreaterThan(0.02);
    expect(Object.keys(last(await cli('analyze', demo.imagesDir, '--project', project, '--k', '10', '--map-features', 'auto', '--json')).timings).sort()).toEqual(['kmeans', 'scan']);

    // re-analysing with another k re-clusters only: no decode, no training, no new map
    const b = JSON.parse((await cli('analyze', demo.imagesDir, '--project', project, '--k', '5', '--json')).stdout.trim().split('\n').pop()!);
    expect(b.trained).toBe(false);
    expect(Object.keys(b.timings).sort()).toEqual(['kmeans', 'scan']);
    expect(b.k).toBe(5);

    // the classic map and plain k-means (the defaults before exaggeration 2 and 'auto'): a new map, then clusters,
    // no training; less pure (measured on these 2,000 images: 0.587–0.605 against 0.600–0.633 for the defaults)
    const c = JSON.parse((await cli('analyze', demo.imagesDir, '--project', project, '--k', '10', '--cluster-method', 'kmeans', '--map-exaggeration', '1', '--json')).stdout.trim().split('\n').pop()!);
    expect(c.trained).toBe(false);
    expect(Object.keys(c.timings).sort()).toEqual(['kmeans', 'scan', 'tsne']);
    const outC = join(tmp, 'classic.csv');
    await cli('export', project, '--out', outC);
    const rowsC = parse(await readFile(outC), { columns: true }) as Record<string, string>[];
    const pc = purity(Int32Array.from(rowsC, (r) => Number(r.cluster)), Int32Array.from(rowsC, (r) => classes.indexOf(demo.truth.get(r.path)!)));
    console.log(`e2e: purity at k=10 with a classic map and k-means = ${pc.toFixed(3)}`);
    expect(pc).toBeGreaterThanOrEqual(0.55);

    // merge two clusters from the CLI, then undo it: the CSV's cluster column follows
    const mergeOut = await cli('merge', project, '3', '1');
    expect(mergeOut.stdout).toMatch(/^merged clusters 1, 3 into 1 \(\d+ images moved; sizes now/);
    const rowsMerged = parse(await readFile((await cli('export', project, '--out', outC), outC)), { columns: true }) as Record<string, string>[];
    rowsC.forEach((r, i) => expect(rowsMerged[i].cluster).toBe(r.cluster === '3' ? '1' : r.cluster));
    await expect(cli('merge', project, '3', '0')).rejects.toThrow(/cluster 3 is empty/);
    expect((await cli('merge', project, '--undo')).stdout).toMatch(/^undid the merge of clusters 1, 3/);
    const rowsBack = parse(await readFile((await cli('export', project, '--out', outC), outC)), { columns: true }) as Record<string, string>[];
    expect(rowsBack.map((r) => r.cluster)).toEqual(rowsC.map((r) => r.cluster));
  }, 600_000);
});

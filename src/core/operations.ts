import { ProjectStore } from './project.js';
import { readLabelsCsv, writeCsv } from './csv.js';
import type { LabelSource } from './labels.js';
import { UserError } from './types.js';

/** Label every image of the given clusters (null clears). Returns how many images each assignment touched. */
export async function labelClusters(store: ProjectStore, assignments: { cluster: number; label: string | null }[]): Promise<{ cluster: number; label: string | null; images: number }[]> {
  if (!store.manifest.clustering || !store.has('clusters')) throw new UserError('the project has no clusters yet: run analyze first');
  const k = store.manifest.clustering.k;
  const clusters = await store.readClusters();
  const labels = await store.openLabels();
  try {
    const out = [];
    for (const { cluster, label } of assignments) {
      if (!Number.isInteger(cluster) || cluster < 0 || cluster >= k) throw new UserError(`cluster ${cluster} does not exist (the project has clusters 0..${k - 1})`);
      const paths = store.manifest.images.filter((_, i) => clusters[i] === cluster).map((img) => img.path);
      await labels.assign(paths, label, 'cluster', `cluster ${cluster}`);
      out.push({ cluster, label, images: paths.length });
    }
    return out;
  } finally {
    await labels.close();
  }
}

export interface MergeResult {
  /** The cluster the others were merged into (the lowest id). */
  into: number;
  from: number[];
  /** Images that changed cluster. */
  moved: number;
  sizes: number[];
}

/**
 * Merge clusters into the lowest of their ids. Ids stay stable (the merged-away clusters stay, empty) so that
 * colours and cluster numbers on the map and in exports do not shift. The clusters before the first merge are
 * kept in clusters-unmerged.npy, so every merge can be undone (`unmergeClusters`) until the next re-clustering.
 */
export async function mergeClusters(store: ProjectStore, ids: number[]): Promise<MergeResult> {
  const c = store.manifest.clustering;
  if (!c || !store.has('clusters')) throw new UserError('the project has no clusters yet: run analyze first');
  const unique = [...new Set(ids)].sort((a, b) => a - b);
  if (unique.length < 2) throw new UserError('merging needs at least two different clusters');
  for (const id of unique) {
    if (!Number.isInteger(id) || id < 0 || id >= c.k) throw new UserError(`cluster ${id} does not exist (the project has clusters 0..${c.k - 1})`);
    if ((c.sizes[id] ?? 0) === 0) throw new UserError(`cluster ${id} is empty (it was merged into another)`);
  }
  const clusters = await store.readClusters();
  if (!c.merges?.length) await store.writeArray('clustersUnmerged', clusters, [clusters.length]);
  const [into, ...from] = unique;
  const moved = applyMerge(clusters, { into, from });
  await store.writeArray('clusters', clusters, [clusters.length]);
  c.merges = [...(c.merges ?? []), { into, from }];
  c.sizes = clusterSizes(clusters, c.k);
  await store.save();
  return { into, from, moved, sizes: c.sizes };
}

/** Undo the last merge; null when there is none. */
export async function unmergeClusters(store: ProjectStore): Promise<MergeResult | null> {
  const c = store.manifest.clustering;
  if (!c?.merges?.length) return null;
  if (!store.has('clustersUnmerged')) throw new UserError(`${store.path('clustersUnmerged')} is missing: the merges cannot be undone (run analyze to re-cluster)`);
  const clusters = await store.readInt('clustersUnmerged');
  const merges = c.merges.slice(0, -1);
  const last = c.merges[c.merges.length - 1];
  for (const m of merges) applyMerge(clusters, m);
  const before = await store.readClusters();
  let moved = 0;
  for (let i = 0; i < clusters.length; i++) if (before[i] !== clusters[i]) moved++;
  await store.writeArray('clusters', clusters, [clusters.length]);
  c.merges = merges.length ? merges : undefined;
  c.sizes = clusterSizes(clusters, c.k);
  await store.save();
  return { into: last.into, from: last.from, moved, sizes: c.sizes };
}

/** Move the members of `from` into `into`, in place; returns how many moved. */
function applyMerge(clusters: Int32Array, m: { into: number; from: number[] }): number {
  const from = new Set(m.from);
  let moved = 0;
  for (let i = 0; i < clusters.length; i++) {
    if (from.has(clusters[i])) {
      clusters[i] = m.into;
      moved++;
    }
  }
  return moved;
}

function clusterSizes(clusters: Int32Array, k: number): number[] {
  const sizes = new Array<number>(k).fill(0);
  for (const v of clusters) if (v >= 0 && v < k) sizes[v]++;
  return sizes;
}

/** Label a set of images by path (a lasso selection or a single image). */
export async function labelPaths(store: ProjectStore, paths: string[], label: string | null, source: LabelSource): Promise<number> {
  const known = new Set(store.manifest.images.map((i) => i.path));
  const missing = paths.filter((p) => !known.has(p));
  if (missing.length) throw new UserError(`${missing.length} path(s) are not in the project, e.g. ${missing[0]}`);
  const labels = await store.openLabels();
  try {
    await labels.assign(paths, label, source);
    return paths.length;
  } finally {
    await labels.close();
  }
}

/** Merge labels from a CSV with path,label columns; rows for unknown paths are reported, not applied. */
export async function importLabels(store: ProjectStore, csvFile: string): Promise<{ applied: number; unknown: string[]; problems: string[] }> {
  const { rows, problems } = await readLabelsCsv(csvFile);
  const known = new Set(store.manifest.images.map((i) => i.path));
  const byLabel = new Map<string, string[]>();
  const unknown: string[] = [];
  for (const r of rows) {
    const p = r.path.replace(/\\/g, '/');
    if (!known.has(p)) {
      unknown.push(p);
      continue;
    }
    const list = byLabel.get(r.label) ?? [];
    list.push(p);
    byLabel.set(r.label, list);
  }
  const labels = await store.openLabels();
  let applied = 0;
  try {
    for (const [label, paths] of byLabel) {
      await labels.assign(paths, label, 'import', csvFile);
      applied += paths.length;
    }
  } finally {
    await labels.close();
  }
  return { applied, unknown, problems };
}

export const EXPORT_COLUMNS = ['path', 'label', 'label_source', 'cluster', 'x', 'y', 'reconstruction_error', 'outlier_score', 'duplicate_of'] as const;

/** Export one row per image, in project order. */
export async function exportCsv(store: ProjectStore, outFile: string): Promise<{ rows: number; labeled: number }> {
  const n = store.n;
  if (n === 0) throw new UserError('the project has no images: run analyze first');
  const clusters = store.has('clusters') ? await store.readClusters() : undefined;
  const coords = store.has('coords') ? (await store.readFloat('coords')).data : undefined;
  const errors = store.has('errors') ? (await store.readFloat('errors')).data : undefined;
  const outliers = store.has('outliers') ? (await store.readFloat('outliers')).data : undefined;
  const dups = store.has('duplicates') ? await store.readInt('duplicates') : undefined;
  const images = store.manifest.images;
  const labels = await store.openLabels();
  let labeled = 0;
  try {
    const rows = store.manifest.images.map((img, i) => {
      const rec = labels.get(img.path);
      if (rec) labeled++;
      return [
        img.path,
        rec?.label ?? '',
        rec?.source ?? '',
        clusters ? clusters[i] : '',
        coords ? round(coords[2 * i]) : '',
        coords ? round(coords[2 * i + 1]) : '',
        errors ? significant(errors[i]) : '',
        outliers ? round(outliers[i]) : '',
        dups && dups[i] >= 0 ? images[dups[i]].path : '',
      ];
    });
    await writeCsv(outFile, [...EXPORT_COLUMNS], rows);
  } finally {
    await labels.close();
  }
  return { rows: n, labeled };
}

function significant(v: number, digits = 5): number {
  return Number(v.toPrecision(digits));
}

function round(v: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

import { ProjectStore, type Settings } from './project.js';
import { findDuplicates } from './pipeline.js';
import { purity } from './metrics.js';

export interface ProjectInfo {
  project: string;
  datasetRoot: string;
  images: number;
  channels: 1 | 3;
  skipped: { path: string; reason: string }[];
  duplicates: number;
  settings: Settings;
  backend?: string;
  model?: { trainedAt: string; trainedOn: number; finalLoss: number; losses: number[] };
  clusters?: { k: number; sizes: number[]; method: string; suggested?: string };
  projection?: { method: string; note?: string };
  labeled: number;
  labels: { label: string; count: number }[];
  timings: Record<string, number>;
  /** Cluster purity against known true classes, when a truth map was given (demo, benchmarks). */
  purity?: number;
}

export async function projectInfo(store: ProjectStore, truth?: Map<string, string>): Promise<ProjectInfo> {
  const m = store.manifest;
  const labels = await store.openLabels();
  let counts: Map<string, number>;
  try {
    counts = labels.counts();
  } finally {
    await labels.close();
  }
  let pur: number | undefined;
  if (truth && m.clustering && store.has('clusters')) {
    const clusters = await store.readClusters();
    const names = new Map<string, number>();
    const t = new Int32Array(m.images.length);
    m.images.forEach((img, i) => {
      const name = truth.get(img.path) ?? '';
      if (!names.has(name)) names.set(name, names.size);
      t[i] = names.get(name)!;
    });
    pur = purity(clusters, t);
  }
  return {
    project: store.dir,
    datasetRoot: m.datasetRoot,
    images: m.images.length,
    channels: m.channels,
    skipped: m.skipped,
    duplicates: findDuplicates(m.images).length,
    settings: m.settings,
    backend: m.backend,
    model: m.model && { trainedAt: m.model.trainedAt, trainedOn: m.model.trainedOn, finalLoss: m.model.finalLoss, losses: m.model.losses },
    clusters: m.clustering && { k: m.clustering.k, sizes: m.clustering.sizes, method: m.clustering.method, suggested: m.clustering.suggested?.reason },
    projection: m.projection && { method: m.projection.method, note: m.projection.note },
    labeled: [...counts.values()].reduce((a, b) => a + b, 0),
    labels: [...counts.entries()].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count),
    timings: m.timings,
    purity: pur,
  };
}

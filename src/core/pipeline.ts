import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { cp, readFile, rename, rm } from 'node:fs/promises';
import { scanFolder } from './scan.js';
import { decodeImages } from './decode.js';
import { Autoencoder } from './autoencoder.js';
import { initTf } from './tf/backend.js';
import { runKMeans, suggestK } from './kmeans.js';
import { runMergeClustering } from './cluster-merge.js';
import { makeProjector } from './projectors.js';
import { BarnesHutProjector, defaultIterations } from './tsne/index.js';
import { seededRandom } from './random.js';
import { findDuplicateRows, outlierScores } from './outliers.js';
import { DESCRIPTOR_VERSION, combineFeatures, shapeDescriptor } from './descriptor.js';
import { decodeNpy, readNpy } from './npy.js';
import { parse as parseCsv } from 'csv-parse/sync';
import { ProjectStore, type ImageEntry, type Manifest, type Settings } from './project.js';
import { DEFAULTS } from './defaults.js';
import type { ProjectionFrame } from './projection.js';
import { UserError, throwIfAborted, type ProgressFn } from './types.js';

export interface AnalyzeOptions {
  folder?: string;
  project: string;
  size?: number;
  color?: Settings['color'];
  latent?: number;
  preset?: string;
  epochs?: number;
  sample?: number;
  seed?: number;
  projector?: Settings['projector'];
  /** What is clustered: the 2-D map (default) or the latent codes. */
  clusterOn?: Settings['clusterOn'];
  /**
   * How: 'kmeans' (default), 'merge' (over-cluster with k-means, merge along the kNN graph), or 'manifold' ('merge' on a
   * second t-SNE of the codes with exaggeration 2, made for clustering only; costs a second t-SNE).
   */
  clusterMethod?: Settings['clusterMethod'];
  /** Exaggeration of the map's t-SNE (see Settings.mapExaggeration; Barnes-Hut only). */
  mapExaggeration?: number;
  /** What the map is made from (see Settings.mapFeatures). */
  mapFeatures?: Settings['mapFeatures'];
  /** A number of clusters, or 'suggest' to pick one by silhouette; undefined keeps the project's k (or suggests). */
  k?: number | 'suggest';
  /**
   * Precomputed embeddings to use instead of training: a .npy (N×d float32/float64, rows in project order, i.e.
   * sorted paths as `export` lists them) or a .csv with `path,e0,e1,…` columns.
   */
  embeddings?: string;
  /** Train the autoencoder again even when a model for these settings exists. */
  retrain?: boolean;
  /**
   * A saved model folder (with training.json, as made by scripts/make-demo-checkpoint.ts) to use instead of
   * training when it was trained with exactly these settings; the bundled demo uses it to open in seconds.
   */
  pretrained?: string;
}

export interface AnalyzeHooks {
  onProgress?: ProgressFn;
  onFrame?: (f: ProjectionFrame) => void;
  /** One line of information for the user (what was reused, what was retrained and why). */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface AnalyzeSummary {
  project: string;
  datasetRoot: string;
  images: number;
  newImages: number;
  skipped: { path: string; reason: string }[];
  duplicates: { path: string; duplicateOf: string }[];
  backend: string;
  trained: boolean;
  finalLoss?: number;
  k: number;
  clusterSizes: number[];
  suggestReason?: string;
  projection: { method: string; note?: string };
  /** Seconds per step; a step reused from the cache is absent. */
  timings: Record<string, number>;
  peakRssMB: number;
}

const MAP_KMEANS_RESTARTS = 10;
const MANIFOLD_EXAGGERATION = 2;
/** --cluster-method auto: k-means from this many clusters, merge below. */
const AUTO_KMEANS_FROM = 50;
/** --map-features auto: the codes and the shape descriptor from this many clusters, the codes below. */
export const AUTO_HOG_FROM = 20;

/**
 * What a map for `k` clusters is made from. 'auto': from 20 clusters the codes and the shape descriptor, whose
 * finer neighbourhoods make purer small clusters (70,000 Fashion-MNIST images: 80.6 % against 76.7 % correctly
 * labeled with 50 cluster actions); below 20 the codes alone, whose coarser groups match classes better (k=10 ACC
 * 0.660 against 0.513). Imported embeddings stay alone unless 'codes+hog' is asked for.
 */
export function resolveMapFeatures(mode: Settings['mapFeatures'], k: number | undefined, imported: boolean): 'codes' | 'codes+hog' {
  if (mode === 'codes' || mode === 'codes+hog') return mode;
  if (mode === undefined || imported) return 'codes';
  return k !== undefined && k >= AUTO_HOG_FROM ? 'codes+hog' : 'codes';
}

function featuresName(f: 'codes' | 'codes+hog'): string {
  return f === 'codes' ? 'codes' : 'codes and the shape descriptor (HOG)';
}

function digest(parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 32);
}

export function modelKey(s: Settings, channels: number): string {
  return JSON.stringify({ size: s.size, channels, latent: s.latent, preset: s.preset, epochs: s.epochs, sample: s.sample, seed: s.seed });
}

/** Build a project from a folder, or bring an existing one up to date, redoing only what changed. */
export async function analyze(opts: AnalyzeOptions, hooks: AnalyzeHooks = {}): Promise<AnalyzeSummary> {
  const { signal, onProgress } = hooks;
  const log = hooks.onLog ?? (() => {});
  const timings: Record<string, number> = {};
  const timed = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    timings[step] = (performance.now() - t0) / 1000;
    return out;
  };

  const existing = ProjectStore.exists(opts.project) ? await ProjectStore.open(opts.project) : undefined;
  const folder = opts.folder ? resolve(opts.folder) : existing?.manifest.datasetRoot;
  if (!folder) throw new UserError('no image folder given and the project has none');
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UserError(`image folder not found: ${folder}`);

  const prev = existing?.manifest.settings;
  const settings: Settings = {
    size: opts.size ?? prev?.size ?? DEFAULTS.size,
    color: opts.color ?? prev?.color ?? DEFAULTS.color,
    latent: opts.latent ?? prev?.latent ?? DEFAULTS.latent,
    preset: opts.preset ?? prev?.preset ?? DEFAULTS.preset,
    epochs: opts.epochs ?? prev?.epochs ?? DEFAULTS.epochs,
    sample: opts.sample ?? prev?.sample ?? DEFAULTS.sample,
    seed: opts.seed ?? prev?.seed ?? DEFAULTS.seed,
    projector: opts.projector ?? prev?.projector ?? DEFAULTS.projector,
    clusterOn: opts.clusterOn ?? prev?.clusterOn ?? DEFAULTS.clusterOn,
    // a project made before an option existed keeps what it was made with (k-means, a classic map)
    clusterMethod: opts.clusterMethod ?? (prev ? (prev.clusterMethod ?? 'kmeans') : DEFAULTS.clusterMethod),
    mapExaggeration: opts.mapExaggeration ?? (prev ? (prev.mapExaggeration ?? 1) : DEFAULTS.mapExaggeration),
    mapFeatures: opts.mapFeatures ?? (prev ? (prev.mapFeatures ?? 'codes') : DEFAULTS.mapFeatures),
  };
  if (settings.projector === 'exact') settings.mapExaggeration = 1; // tsne-js has no exaggeration option

  // ---- scan
  const scan = await timed('scan', () => scanFolder(folder, { signal, onProgress }));
  throwIfAborted(signal);
  if (scan.files.length === 0) throw new UserError(`no images found in ${folder} (looked for jpg, jpeg, png, webp, gif, bmp, tif, tiff)`);

  // ---- decode (reuse cached pixels of unchanged files)
  const store = existing ?? (await ProjectStore.create(opts.project, { datasetRoot: folder, settings, channels: 1 }));
  const m = store.manifest;
  const sameRoot = m.datasetRoot === folder;
  const sameDecode = !!prev && prev.size === settings.size && prev.color === settings.color && sameRoot;
  const cachedPixels = sameDecode && store.has('pixels') && m.images.length > 0 ? await store.readPixels() : undefined;
  const cachedIndex = new Map<string, number>();
  if (cachedPixels) m.images.forEach((img, i) => cachedIndex.set(img.path, i));
  const isCached = (f: { path: string; bytes: number; mtimeMs: number }) => {
    const i = cachedIndex.get(f.path);
    return i !== undefined && m.images[i].bytes === f.bytes && m.images[i].mtimeMs === f.mtimeMs;
  };
  const toDecode = scan.files.filter((f) => !isCached(f));
  const removed = m.images.length - (scan.files.length - toDecode.length);
  let images: ImageEntry[];
  let pixels: Uint8Array;
  let channels: 1 | 3 = m.channels;
  let skipped = [...scan.skipped];
  const unchanged = toDecode.length === 0 && removed === 0 && !!cachedPixels;
  if (unchanged) {
    images = m.images;
    pixels = cachedPixels!;
    skipped = [...scan.skipped, ...m.skipped.filter((s) => !scan.skipped.some((t) => t.path === s.path))];
    log(`images: ${images.length} unchanged since the last run (decoded pixels reused)`);
  } else {
    const decoded = await timed('decode', () =>
      decodeImages(folder, toDecode.map((f) => f.path), { size: settings.size, color: settings.color, signal, onProgress }),
    );
    skipped = [...scan.skipped, ...decoded.skipped];
    let fresh = decoded;
    if (cachedPixels && decoded.paths.length > 0 && decoded.channels !== m.channels) {
      // Colour mode 'auto' flipped (e.g. the first colour image arrived): decode everything again in one mode.
      log(`colour mode changed (${m.channels} → ${decoded.channels} channels): decoding all images again`);
      fresh = await timed('decode', () =>
        decodeImages(folder, scan.files.map((f) => f.path), { size: settings.size, color: settings.color, signal, onProgress }),
      );
      skipped = [...scan.skipped, ...fresh.skipped];
      cachedIndex.clear();
    }
    channels = cachedIndex.size > 0 ? m.channels : fresh.channels;
    const per = settings.size * settings.size * channels;
    const freshIndex = new Map(fresh.paths.map((p, i) => [p, i]));
    images = [];
    const rows: { src: Uint8Array; offset: number }[] = [];
    for (const f of scan.files) {
      const fi = freshIndex.get(f.path);
      if (fi !== undefined) {
        images.push({ path: f.path, hash: fresh.hashes[fi], bytes: f.bytes, mtimeMs: f.mtimeMs });
        rows.push({ src: fresh.pixels, offset: fi * per });
      } else if (cachedIndex.size > 0 && isCached(f)) {
        const ci = cachedIndex.get(f.path)!;
        images.push(m.images[ci]);
        rows.push({ src: cachedPixels!, offset: ci * per });
      }
    }
    pixels = new Uint8Array(images.length * per);
    rows.forEach((r, i) => pixels.set(r.src.subarray(r.offset, r.offset + per), i * per));
    if (cachedPixels) log(`images: ${toDecode.length} new or changed decoded, ${images.length - (fresh.paths.length)} reused, ${Math.max(0, removed)} gone`);
  }
  if (images.length === 0) throw new UserError(`none of the ${scan.files.length} image files in ${folder} could be decoded (see the skipped list)`);
  throwIfAborted(signal);

  const hashDigest = digest(images.map((i) => i.hash));
  const duplicates = findDuplicates(images);
  m.datasetRoot = folder;
  // Only the decode settings are committed now: the rest are committed when the run finishes, so a cancelled
  // run leaves the project as it was (the next run without options does not pick up the cancelled request).
  m.settings = { ...(prev ?? settings), size: settings.size, color: settings.color };
  m.channels = channels;
  m.skipped = skipped;
  if (!unchanged) {
    m.images = images;
    await store.writePixels(pixels);
  }
  await store.save();

  // ---- codes: imported (--embeddings), or from the model: the saved one when its settings match; never retrained silently
  const key = modelKey(settings, channels);
  if (opts.retrain && m.embeddingsFrom) m.embeddingsFrom = undefined;
  const useImported = !!opts.embeddings || !!m.embeddingsFrom;
  const needCodes = !useImported && (opts.retrain || !m.model || m.model.key !== key || !store.has('model') || m.codesFor !== digest([key, hashDigest, m.model.trainedAt]) || !store.has('codes'));
  let backend = m.backend ?? 'not used (cached)';
  let trained = false;
  if (opts.embeddings) {
    const file = resolve(opts.embeddings);
    const imported = await timed('import', () => readEmbeddings(file, images.map((i) => i.path)));
    await store.writeArray('codes', imported.codes, [images.length, imported.d]);
    // Imported codes have no model behind them: no reconstruction error, and outside images cannot be encoded.
    await rm(store.path('errors'), { force: true });
    await rm(store.path('model'), { recursive: true, force: true });
    m.model = undefined;
    m.embeddingsFrom = { file, sha256: imported.sha256, d: imported.d };
    m.codesFor = digest(['embeddings', imported.sha256, hashDigest]);
    backend = 'not used (imported embeddings)';
    log(`codes: imported ${images.length}×${imported.d} embeddings from ${file}`);
    await store.save();
  } else if (m.embeddingsFrom) {
    if (m.codesFor !== digest(['embeddings', m.embeddingsFrom.sha256, hashDigest])) {
      throw new UserError(`the images changed since the embeddings were imported from ${m.embeddingsFrom.file}: give --embeddings again with rows for the current images, or --retrain to train the autoencoder instead`);
    }
    backend = 'not used (imported embeddings)';
    log('codes: the imported embeddings (same images)');
  } else if (needCodes) {
    const info = await initTf();
    backend = info.detail;
    m.backend = backend;
    let ae: Autoencoder;
    const canReuse = !opts.retrain && m.model && m.model.key === key && store.has('model');
    const pretrained = !canReuse && !opts.retrain && opts.pretrained ? await readPretrained(opts.pretrained, key) : undefined;
    if (canReuse) {
      ae = await Autoencoder.load(store.path('model'));
      log('model: loaded the saved autoencoder (same settings); not retrained');
    } else if (pretrained) {
      await rm(store.path('model'), { recursive: true, force: true });
      await cp(opts.pretrained!, store.path('model'), { recursive: true });
      ae = await Autoencoder.load(store.path('model'));
      m.model = { ...pretrained.model, key };
      await store.save();
      log(`model: using the pretrained checkpoint ${opts.pretrained} (trained with these settings on ${pretrained.model.trainedOn} images)`);
    } else {
      if (m.model) log(`model: retraining because ${opts.retrain ? '--retrain was given' : describeKeyChange(m.model.key, key)}`);
      ae = await Autoencoder.create({ preset: settings.preset, size: settings.size, channels, latent: settings.latent, seed: settings.seed });
      const result = await timed('train', () =>
        ae.train(pixels, images.length, { epochs: settings.epochs, sample: settings.sample, random: seededRandom(settings.seed), signal, onProgress }),
      );
      await saveModelAtomically(ae, store.path('model'));
      m.model = { trainedAt: new Date().toISOString(), losses: result.losses, finalLoss: result.finalLoss, trainedOn: result.trainedOn, imagesPerSecond: result.imagesPerSecond, key };
      trained = true;
      await store.save();
    }
    try {
      const enc = await timed('encode', () => ae.encode(pixels, images.length, { signal, onProgress }));
      await store.writeArray('codes', enc.codes, [images.length, settings.latent]);
      await store.writeArray('errors', enc.errors, [images.length]);
    } finally {
      ae.dispose();
    }
    m.codesFor = digest([key, hashDigest, m.model!.trainedAt]);
    await store.save();
  } else {
    log('codes: reused (same images, same model)');
  }
  const codesDigest = m.codesFor!;
  const { data: codes, shape: codesShape } = await store.readFloat('codes');
  const d = codesShape[1];

  // ---- outlier scores and near-duplicates: only when the codes changed
  if (m.outliersFor !== codesDigest || !store.has('outliers') || !store.has('duplicates')) {
    await timed('outliers', async () => {
      const errors = store.has('errors') ? (await store.readFloat('errors')).data : undefined;
      const o = await outlierScores(codes, images.length, d, errors, { signal, onProgress });
      const dups = findDuplicateRows(images.map((i) => i.hash), o.knn, { data: codes, d });
      const dupOf = new Int32Array(images.length).fill(-1);
      for (const x of dups.duplicates) dupOf[x.index] = x.of;
      await store.writeArray('outliers', Float32Array.from(o.scores), [images.length]);
      await store.writeArray('duplicates', dupOf, [images.length]);
    });
    m.outliersFor = codesDigest;
    await store.save();
  }

  // ---- 2-D map: only when its input (the codes, and the descriptor if used) or the method changed
  const wantK = opts.k === 'suggest' ? undefined : (opts.k ?? m.clustering?.k);
  const features = resolveMapFeatures(settings.mapFeatures, wantK, useImported);
  const descFor = features === 'codes+hog' ? digest(['descriptor', String(DESCRIPTOR_VERSION), hashDigest, String(settings.size), String(channels)]) : undefined;
  const mapInputFor = descFor ? digest(['codes+hog', codesDigest, descFor]) : codesDigest;
  /** The t-SNE's input: the codes, or the codes and the descriptor (computed once, then read from the project). */
  const mapInput = async (): Promise<{ data: Float32Array; d: number }> => {
    if (!descFor) return { data: codes, d };
    let desc: { data: Float32Array; d: number };
    if (m.descriptor?.for === descFor && store.has('descriptor')) {
      const r = await store.readFloat('descriptor');
      desc = { data: r.data, d: r.shape[1] };
    } else {
      const r = await timed('descriptor', () => shapeDescriptor(pixels, images.length, settings.size, channels, { signal, onProgress }));
      await store.writeArray('descriptor', r.data, [images.length, r.d]);
      m.descriptor = { for: descFor, d: r.d, hogDims: r.layout.dims, explained: r.explained };
      await store.save();
      desc = r;
    }
    return { data: combineFeatures(codes, d, desc.data, desc.d, images.length), d: d + desc.d };
  };
  const projectorName = settings.projector;
  const exaggeration = settings.mapExaggeration ?? 1;
  const isWantedMap = (p: Manifest['projection']) =>
    !!p && p.codesFor === mapInputFor && p.seed === settings.seed && p.method.startsWith(projectorName === 'bh' ? 'barnes-hut' : 'tsne-js') && (p.exaggeration ?? 1) === exaggeration;
  if (isWantedMap(m.projection) && store.has('coords')) {
    log('map: reused');
  } else if (isWantedMap(m.previousProjection) && store.has('coordsPrevious') && m.projection && store.has('coords')) {
    // the map made before this one is the one wanted: swap the two (the records are dropped while the files
    // change, so a crash in between means a new map next time, never a map under the wrong record)
    const current = (await store.readFloat('coords')).data;
    const before = (await store.readFloat('coordsPrevious')).data;
    const [cur, prevRec] = [m.projection, m.previousProjection!];
    m.projection = undefined;
    m.previousProjection = undefined;
    await store.save();
    await store.writeArray('coordsPrevious', current, [images.length, 2]);
    await store.writeArray('coords', before, [images.length, 2]);
    m.projection = prevRec;
    m.previousProjection = cur;
    await store.save();
    log(`map: the one made before, from the ${featuresName(features)} (kept, not made again)`);
  } else {
    // keep the current map for going back to it, unless it is of other images (then neither map can come back)
    const current = m.projection && store.has('coords') ? await readNpy(store.path('coords')) : undefined;
    const keep = current && current.shape[0] === images.length && current.data instanceof Float32Array;
    const cur = m.projection;
    m.previousProjection = undefined;
    await store.save();
    if (keep) {
      await store.writeArray('coordsPrevious', current.data as Float32Array, [images.length, 2]);
      m.previousProjection = cur;
      await store.save();
    } else {
      await rm(store.path('coordsPrevious'), { force: true });
    }
    const input = await mapInput();
    const projector = makeProjector(projectorName, images.length, { exaggeration });
    const res = await timed('tsne', () => projector.project(input.data, images.length, input.d, { random: seededRandom(settings.seed), signal, onProgress, onFrame: hooks.onFrame }));
    await store.writeArray('coords', res.coords, [images.length, 2]);
    const method = `${exaggeration === 1 ? res.method : `${res.method}, exaggeration ${exaggeration}`}${features === 'codes+hog' ? ', of the codes and the shape descriptor' : ''}`;
    m.projection = { method, note: res.note, kl: res.kl, seed: settings.seed, codesFor: mapInputFor, exaggeration, features };
    if (res.note) log(`map: ${res.note}`);
    if (settings.mapFeatures === 'auto') log(`map: made from the ${featuresName(features)} (auto: ${features === 'codes' ? `below ${AUTO_HOG_FROM} clusters` : `from ${AUTO_HOG_FROM} clusters`})`);
    await store.save();
  }

  // ---- clustering: only when its input (codes or map), method, k or seed changed
  // Default for new projects: 'merge' on the 2-D map, which is made with exaggeration 2 (N2D's finding: clusters
  // separate better in a learned manifold than in the raw codes; the exaggerated map separates them more, and the
  // merge along the kNN graph follows curved groups that k-means cuts: 70,000 Fashion-MNIST images k=10 ACC 0.660 /
  // NMI 0.706 against 0.588 / 0.567 for k-means on a classic map; README "Cluster quality"). 'kmeans' is k-means
  // on the map or the codes. 'manifold': 'merge' on a t-SNE of the codes with exaggeration 2 — the map itself when
  // the map has that exaggeration, else a second t-SNE made for clustering only (cached).
  const method = settings.clusterMethod ?? 'kmeans'; // absent in projects made before the option: k-means
  // a map made with the manifold's exaggeration is that manifold already: no second t-SNE
  const mapIsManifold = projectorName === 'bh' && exaggeration === MANIFOLD_EXAGGERATION && features === 'codes';
  if (method === 'manifold' && !mapIsManifold) {
    const sameSpace = m.clusterSpace && m.clusterSpace.codesFor === codesDigest && m.clusterSpace.seed === settings.seed && store.has('clusterSpace');
    if (!sameSpace) {
      const iterations = defaultIterations(images.length);
      const projector = new BarnesHutProjector({ earlyExaggeration: MANIFOLD_EXAGGERATION, earlyExaggerationIterations: iterations, iterations });
      const res = await timed('cluster-space', () =>
        projector.project(codes, images.length, d, { random: seededRandom(settings.seed), signal, onProgress: onProgress && ((p) => onProgress({ ...p, step: 'cluster-space' })) }),
      );
      await store.writeArray('clusterSpace', res.coords, [images.length, 2]);
      m.clusterSpace = { method: `${res.method}, exaggeration ${MANIFOLD_EXAGGERATION}`, seed: settings.seed, codesFor: codesDigest };
      await store.save();
    }
  }
  const space = method === 'manifold' ? (mapIsManifold ? 'map' : 'space') : settings.clusterOn;
  const clusterInput = space === 'space' ? (await store.readFloat('clusterSpace')).data : space === 'map' ? (await store.readFloat('coords')).data : codes;
  const clusterDim = space === 'codes' ? d : 2;
  const inputFor =
    space === 'space' ? digest(['cluster-space', codesDigest, m.clusterSpace!.method, String(m.clusterSpace!.seed)])
    : space === 'map' ? digest(['map', m.projection!.codesFor, m.projection!.method, String(m.projection!.seed)])
    : codesDigest;
  let suggestReason: string | undefined;
  // 'auto': merging follows class shapes when there are about as many clusters as classes; from 50 clusters the user
  // over-clusters to label in bulk, where k-means' compact pieces are purer (70,000 Fashion-MNIST images, 50
  // clusters: 75.8 % against 75.1 % correctly labeled; 2,000 images: 72.4–72.7 % against 70.5–71.3 %)
  const effective = method === 'auto' ? ((wantK ?? 10) < AUTO_KMEANS_FROM ? 'merge' : 'kmeans') : method;
  const methodName =
    effective === 'manifold' ? `k-means then merged along the kNN graph on a t-SNE of the codes with exaggeration ${MANIFOLD_EXAGGERATION}`
    : `${effective === 'merge' ? 'k-means then merged along the kNN graph' : 'kmeans'} on the ${settings.clusterOn === 'map' ? '2-D map' : 'latent codes'}`;
  // projects made before --cluster-method recorded 'kmeans on the …', the same name as now
  const sameClustering = m.clustering && m.clustering.method === methodName && m.clustering.codesFor === inputFor && m.clustering.seed === settings.seed && wantK === m.clustering.k && store.has('clusters');
  if (!sameClustering) {
    let k = wantK;
    let suggested: { reason: string; scores: { k: number; silhouette: number }[] } | undefined;
    if (k === undefined) {
      const s = await timed('suggest-k', () => suggestK(clusterInput, images.length, clusterDim, { seed: settings.seed, signal, onProgress }));
      k = s.k;
      suggested = { reason: s.reason, scores: s.scores };
      suggestReason = s.reason;
      log(`k: ${suggested.reason}`);
    }
    if (k < 1 || k > images.length) throw new UserError(`--k must be between 1 and the number of images (${images.length}); got ${k}`);
    // On the 2-D map k-means is cheap, so keep the best of several k-means++ starts (lowest inertia), as
    // sklearn's n_init does: on 10,000 Fashion-MNIST images NMI 0.603 against 0.573 for a single start.
    const restarts = clusterDim === 2 ? MAP_KMEANS_RESTARTS : 1;
    const km = await timed('kmeans', async () => {
      if (effective === 'merge' || effective === 'manifold') {
        const r = await runMergeClustering(clusterInput, images.length, clusterDim, k!, { seed: settings.seed, signal, onProgress });
        return { ...r, iterations: 0 };
      }
      let best: Awaited<ReturnType<typeof runKMeans>> | undefined;
      for (let r = 0; r < restarts; r++) {
        const run = await runKMeans(clusterInput, images.length, clusterDim, k!, { seed: settings.seed + r, signal, onProgress });
        if (!best || run.inertia < best.inertia) best = run;
      }
      return best!;
    });
    await store.writeArray('clusters', km.assignments, [images.length]);
    m.clustering = { method: methodName, k, seed: settings.seed, sizes: km.sizes, inertia: km.inertia, iterations: km.iterations, suggested, codesFor: inputFor };
    await store.save();
  } else {
    log(`clusters: reused (k=${m.clustering!.k})`);
    suggestReason = m.clustering!.suggested?.reason;
  }

  m.settings = settings;
  for (const [step, s] of Object.entries(timings)) m.timings[step] = s;
  await store.save();
  return {
    project: store.dir,
    datasetRoot: folder,
    images: images.length,
    newImages: unchanged ? 0 : toDecode.length,
    skipped,
    duplicates,
    backend,
    trained,
    finalLoss: m.model?.finalLoss,
    k: m.clustering!.k,
    clusterSizes: m.clustering!.sizes,
    suggestReason,
    projection: { method: m.projection!.method, note: m.projection!.note },
    timings,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/** Read imported embeddings for the project's images (in project order). */
export async function readEmbeddings(file: string, paths: string[]): Promise<{ codes: Float32Array; d: number; sha256: string }> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch {
    throw new UserError(`embeddings file not found: ${file}`);
  }
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const n = paths.length;
  if (file.toLowerCase().endsWith('.npy')) {
    const { data, shape } = decodeNpy(raw, file);
    if (shape.length !== 2) throw new UserError(`${file}: embeddings must be a 2-D array (rows × dims); got shape ${shape.join('×')}`);
    if (shape[0] !== n) throw new UserError(`${file}: ${shape[0]} rows, but the folder has ${n} images (rows must follow the project order: paths sorted as 'export' lists them)`);
    if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) throw new UserError(`${file}: embeddings must be float32 or float64`);
    return { codes: data instanceof Float32Array ? data : Float32Array.from(data), d: shape[1], sha256 };
  }
  if (file.toLowerCase().endsWith('.csv')) {
    const rows = parseCsv(raw, { bom: true, skip_empty_lines: true }) as string[][];
    const header = rows.shift() ?? [];
    if (header[0]?.trim().toLowerCase() !== 'path' || header.length < 2) throw new UserError(`${file}: expected a header 'path,e0,e1,…'`);
    const d = header.length - 1;
    const byPath = new Map(rows.map((r) => [r[0], r]));
    const codes = new Float32Array(n * d);
    const missing = paths.filter((p) => !byPath.has(p));
    if (missing.length) throw new UserError(`${file}: no embedding for ${missing.length} of the ${n} images (e.g. ${missing[0]})`);
    paths.forEach((p, i) => {
      const r = byPath.get(p)!;
      for (let t = 0; t < d; t++) {
        const v = Number(r[t + 1]);
        if (!Number.isFinite(v)) throw new UserError(`${file}: row ${p}, column ${header[t + 1]}: not a number (${r[t + 1]})`);
        codes[i * d + t] = v;
      }
    });
    return { codes, d, sha256 };
  }
  throw new UserError(`${file}: embeddings must be a .npy or .csv file`);
}

/** training.json beside a pretrained model: the settings key it was trained with and its training record. */
export interface PretrainedRecord {
  key: string;
  model: { trainedAt: string; losses: number[]; finalLoss: number; trainedOn: number; imagesPerSecond: number };
}

async function readPretrained(dir: string, key: string): Promise<PretrainedRecord | undefined> {
  try {
    const rec = JSON.parse(await readFile(resolve(dir, 'training.json'), 'utf8')) as PretrainedRecord;
    return rec.key === key ? rec : undefined;
  } catch {
    return undefined;
  }
}

/** Save into a temporary folder first, so a crash mid-save never leaves a half-written model beside a manifest that trusts it. */
async function saveModelAtomically(ae: Autoencoder, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await ae.save(tmp);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** Images whose content hash equals an earlier image's. */
export function findDuplicates(images: ImageEntry[]): { path: string; duplicateOf: string }[] {
  const first = new Map<string, string>();
  const out: { path: string; duplicateOf: string }[] = [];
  for (const img of images) {
    const f = first.get(img.hash);
    if (f === undefined) first.set(img.hash, img.path);
    else out.push({ path: img.path, duplicateOf: f });
  }
  return out;
}

function describeKeyChange(oldKey: string, newKey: string): string {
  const a = JSON.parse(oldKey) as Record<string, unknown>;
  const b = JSON.parse(newKey) as Record<string, unknown>;
  const changed = Object.keys(b).filter((k) => a[k] !== b[k]).map((k) => `${k} ${String(a[k])} → ${String(b[k])}`);
  return changed.length ? `settings changed (${changed.join(', ')})` : 'the saved model is missing';
}

export type { Manifest };

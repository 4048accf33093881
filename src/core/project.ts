import { mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readJson, writeJsonAtomic } from './fsutil.js';
import { readNpy, writeNpy } from './npy.js';
import { LabelStore } from './labels.js';
import { UserError } from './types.js';

/**
 * The project store: a visible folder holding everything one analysis produced.
 *
 *   project.json     manifest (dataset root, settings, images with content hashes, skipped files and why,
 *                    what each step produced and how long it took)
 *   pixels.npy       decoded images, uint8 N×S×S×C (so re-open never decodes again)
 *   model/           the autoencoder in tfjs format
 *   codes.npy        latent codes, float32 N×d
 *   errors.npy       reconstruction error per image, float32 N
 *   clusters.npy     cluster id per image, int32 N
 *   coords.npy       2-D map, float32 N×2
 *   coords-previous.npy  the map made before it (going back to it is instant)
 *   descriptor.npy   shape descriptor (HOG, 50 principal components), float32 N×50, when a map was made from it
 *   outliers.npy     outlier score per image, float32 N (robust z of reconstruction error and kNN distance)
 *   duplicates.npy   row of the first image this one duplicates (same content or near-identical code), or -1
 *   labels.json, labels.journal   labels (snapshot + fsync'd journal of edits)
 *
 * Every file is written atomically (temp + rename); the manifest is written last, so a crash or a
 * cancel mid-step leaves the previous consistent state.
 */

export const ImageEntry = z.object({ path: z.string(), hash: z.string(), bytes: z.number(), mtimeMs: z.number() });
export type ImageEntry = z.infer<typeof ImageEntry>;

export const Settings = z.object({
  size: z.number().int().min(8).max(256),
  color: z.enum(['auto', 'rgb', 'gray']),
  latent: z.number().int().min(2).max(1024),
  preset: z.string(),
  epochs: z.number().int().min(1).max(1000),
  sample: z.number().int().min(1),
  seed: z.number().int(),
  projector: z.enum(['bh', 'exact']),
  clusterOn: z.enum(['map', 'codes']).default('map'),
  /**
   * 'auto': 'merge' below 50 clusters, 'kmeans' from 50 (over-clustering for labeling); 'kmeans': plain k-means; 'merge': k-means into many small clusters, merged along the kNN graph
   * (src/core/cluster-merge.ts); 'manifold': 'merge' on a second t-SNE of the codes made for clustering
   * (cluster-space.npy). Absent in projects made before the option existed, which were clustered with k-means.
   */
  clusterMethod: z.enum(['auto', 'kmeans', 'merge', 'manifold']).optional(),
  /**
   * Exaggeration of the map's t-SNE (Barnes-Hut) for all its iterations: 1 = classic t-SNE (early exaggeration 12,
   * then 1); 2 = tighter, better separated groups (UMAP-like; Böhm, Berens & Kobak 2022). Absent in projects made
   * before the option existed, whose maps are classic.
   */
  mapExaggeration: z.number().min(1).max(12).optional(),
  /**
   * What the map is made from: 'codes' (the autoencoder's), 'codes+hog' (the codes and the shape descriptor,
   * src/core/descriptor.ts), or 'auto': codes+hog from 20 clusters, the codes below (and when k is to be
   * suggested). Absent in projects made before the option existed, whose maps are of the codes.
   */
  mapFeatures: z.enum(['auto', 'codes', 'codes+hog']).optional(),
});
export type Settings = z.infer<typeof Settings>;

const Projection = z.object({
  method: z.string(),
  note: z.string().optional(),
  kl: z.number().optional(),
  seed: z.number().int(),
  /** Digest of the map's input: the codes' digest, or (features 'codes+hog') of the codes and the descriptor. */
  codesFor: z.string(),
  exaggeration: z.number().optional(),
  /** What the map was made from; absent in projects made before the option: the codes. */
  features: z.enum(['codes', 'codes+hog']).optional(),
});

export const Manifest = z.object({
  format: z.literal('clusterlens-project'),
  version: z.literal(1),
  createdAt: z.string(),
  updatedAt: z.string(),
  datasetRoot: z.string(),
  settings: Settings,
  channels: z.union([z.literal(1), z.literal(3)]),
  images: z.array(ImageEntry),
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
  backend: z.string().optional(),
  model: z
    .object({
      trainedAt: z.string(),
      losses: z.array(z.number()),
      finalLoss: z.number(),
      trainedOn: z.number(),
      imagesPerSecond: z.number(),
      /** The settings the model was trained with; a change in these means retraining. */
      key: z.string(),
    })
    .optional(),
  /** Set when the codes were imported (analyze --embeddings) instead of computed by the autoencoder. */
  embeddingsFrom: z.object({ file: z.string(), sha256: z.string(), d: z.number().int() }).optional(),
  /** Digest of the codes the outlier scores and duplicates were computed from. */
  outliersFor: z.string().optional(),
  /** Content hash list digest the codes were computed for. */
  codesFor: z.string().optional(),
  clustering: z
    .object({
      method: z.string(),
      k: z.number().int(),
      seed: z.number().int(),
      sizes: z.array(z.number()),
      inertia: z.number(),
      iterations: z.number(),
      suggested: z.object({ reason: z.string(), scores: z.array(z.object({ k: z.number(), silhouette: z.number() })) }).optional(),
      codesFor: z.string(),
      /** Clusters merged by hand, oldest first; clusters-unmerged.npy holds the clusters before the first. */
      merges: z.array(z.object({ into: z.number().int(), from: z.array(z.number().int()) })).optional(),
    })
    .optional(),
  projection: Projection.optional(),
  /** The map made before the current one (coords-previous.npy), kept so that going back to it is instant. */
  previousProjection: Projection.optional(),
  /** The shape descriptor in descriptor.npy: digest of what it was computed from, its size, HOG length, variance kept. */
  descriptor: z.object({ for: z.string(), d: z.number().int(), hogDims: z.number().int(), explained: z.number() }).optional(),
  /** The 2-D embedding made for clustering only (--cluster-method manifold), and the codes it was made from. */
  clusterSpace: z.object({ method: z.string(), seed: z.number().int(), codesFor: z.string() }).optional(),
  timings: z.record(z.string(), z.number()),
});
export type Manifest = z.infer<typeof Manifest>;

export const FILES = {
  manifest: 'project.json',
  pixels: 'pixels.npy',
  codes: 'codes.npy',
  errors: 'errors.npy',
  clusters: 'clusters.npy',
  clustersUnmerged: 'clusters-unmerged.npy',
  coords: 'coords.npy',
  coordsPrevious: 'coords-previous.npy',
  descriptor: 'descriptor.npy',
  clusterSpace: 'cluster-space.npy',
  outliers: 'outliers.npy',
  duplicates: 'duplicates.npy',
  model: 'model',
} as const;

export class ProjectStore {
  private constructor(
    readonly dir: string,
    public manifest: Manifest,
  ) {}

  static manifestPath(dir: string): string {
    return join(dir, FILES.manifest);
  }

  static exists(dir: string): boolean {
    return existsSync(ProjectStore.manifestPath(dir));
  }

  /** Open an existing project; a clear UserError when `dir` is not one. */
  static async open(dir: string): Promise<ProjectStore> {
    const abs = resolve(dir);
    if (!existsSync(abs)) throw new UserError(`project not found: ${abs}`);
    if (!ProjectStore.exists(abs)) throw new UserError(`not a Clusterlens project (no ${FILES.manifest}): ${abs}`);
    const manifest = await readJson(ProjectStore.manifestPath(abs), Manifest);
    return new ProjectStore(abs, manifest);
  }

  /** Create a new project folder (refuses a non-empty folder that is not a project). */
  static async create(dir: string, init: Pick<Manifest, 'datasetRoot' | 'settings' | 'channels'>): Promise<ProjectStore> {
    const abs = resolve(dir);
    if (existsSync(abs)) {
      const st = await stat(abs);
      if (!st.isDirectory()) throw new UserError(`project path is a file, not a folder: ${abs}`);
    }
    await mkdir(abs, { recursive: true });
    const now = new Date().toISOString();
    const manifest: Manifest = {
      format: 'clusterlens-project',
      version: 1,
      createdAt: now,
      updatedAt: now,
      images: [],
      skipped: [],
      timings: {},
      ...init,
    };
    const store = new ProjectStore(abs, manifest);
    await store.save();
    return store;
  }

  path(name: keyof typeof FILES): string {
    return join(this.dir, FILES[name]);
  }

  async save(): Promise<void> {
    this.manifest.updatedAt = new Date().toISOString();
    await writeJsonAtomic(this.path('manifest'), this.manifest);
  }

  get n(): number {
    return this.manifest.images.length;
  }

  has(name: keyof typeof FILES): boolean {
    return existsSync(this.path(name));
  }

  async readPixels(): Promise<Uint8Array> {
    const { data, shape } = await readNpy(this.path('pixels'));
    const s = this.manifest.settings.size;
    const expect = [this.n, s, s, this.manifest.channels];
    if (shape.join() !== expect.join()) throw new UserError(`${this.path('pixels')}: shape ${shape.join('×')} does not match the manifest (${expect.join('×')})`);
    return data as Uint8Array;
  }

  async writePixels(pixels: Uint8Array): Promise<void> {
    const s = this.manifest.settings.size;
    await writeNpy(this.path('pixels'), pixels, [this.n, s, s, this.manifest.channels]);
  }

  async readFloat(name: 'codes' | 'errors' | 'coords' | 'coordsPrevious' | 'clusterSpace' | 'outliers' | 'descriptor'): Promise<{ data: Float32Array; shape: number[] }> {
    const { data, shape } = await readNpy(this.path(name));
    if (!(data instanceof Float32Array)) throw new UserError(`${this.path(name)}: expected float32`);
    if (shape[0] !== this.n) throw new UserError(`${this.path(name)}: ${shape[0]} rows but the project has ${this.n} images`);
    return { data, shape };
  }

  async readClusters(): Promise<Int32Array> {
    return this.readInt('clusters');
  }

  async readInt(name: 'clusters' | 'clustersUnmerged' | 'duplicates'): Promise<Int32Array> {
    const { data, shape } = await readNpy(this.path(name));
    if (!(data instanceof Int32Array) || shape[0] !== this.n) throw new UserError(`${this.path(name)}: does not match the project`);
    return data;
  }

  async writeArray(name: 'codes' | 'errors' | 'coords' | 'coordsPrevious' | 'descriptor' | 'clusterSpace' | 'clusters' | 'clustersUnmerged' | 'outliers' | 'duplicates', data: Float32Array | Int32Array, shape: number[]): Promise<void> {
    await writeNpy(this.path(name), data, shape);
  }

  openLabels(): Promise<LabelStore> {
    return LabelStore.open(this.dir);
  }
}

/**
 * Library API: a project's embedding as a similarity function.
 *
 *   const p = await openProject('photos-project');
 *   await p.similar('cats/001.jpg', { top: 5 });        // a project image (its path or row), an outside file,
 *                                                        // an image Buffer or a latent vector
 *   await p.score('new.jpg');                            // best label, score per label, outlier flag
 *   await p.outliers({ top: 20 });
 *   await p.duplicates();
 *   await p.close();
 *
 * Everything is loaded lazily and once: the codes on the first call that needs them, the autoencoder (and the
 * tfjs backend) only when an image that is not in the project must be embedded, the label scorer again only
 * when the labels changed since the last score().
 */
import { existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { ProjectStore } from './project.js';
import { decodeOne } from './decode.js';
import { writeNpy } from './npy.js';
import { writeCsv } from './csv.js';
import type { Autoencoder } from './autoencoder.js';
import { allKnn, DEFAULT_METRIC, NeighborIndex, type KnnGraph, type Metric } from './neighbors.js';
import { DEFAULT_FENCE, DEFAULT_OUTLIER_K, findDuplicateRows, outlierScores, rankOutliers, type DuplicateOptions, type OutlierResult } from './outliers.js';
import { LabelScorer, type LabelScore, type LabelScorerOptions } from './scoring.js';
import { UserError, type StepOptions } from './types.js';

export type ImageInput = string | Buffer;
export type Query = string | Buffer | Float32Array | number;

export interface SimilarOptions {
  /** How many neighbours (default 10). */
  top?: number;
  metric?: Metric;
}

export interface SimilarResult {
  path: string;
  /** Row in the project (CSV row order). */
  index: number;
  distance: number;
}

export interface ScoreResult extends LabelScore {
  /** The input: its path as given, or `<buffer N>` for the N-th Buffer. */
  input: string;
  /** The most similar project image. */
  nearest?: { path: string; distance: number };
}

export interface OutlierEntry {
  path: string;
  index: number;
  /** Combined robust score (see outliers.ts); higher = more unusual. */
  score: number;
  /** Above the Q3 + c·IQR fence. */
  flagged: boolean;
  /** Mean latent distance to the k nearest neighbours. */
  knnDistance: number;
  reconstructionError?: number;
}

export interface OutliersOptions extends StepOptions {
  /** How many, most unusual first (default: every flagged image). */
  top?: number;
  /** Fence multiplier (default 1.5). */
  c?: number;
}

export interface DuplicateEntry {
  path: string;
  /** The first image (in project order) with the same or nearly the same content. */
  duplicateOf: string;
  kind: 'exact' | 'near';
  distance: number;
}

export interface OutlierReport {
  entries: OutlierEntry[];
  flagged: number;
  threshold: number;
  k: number;
  c: number;
  /** False when the neighbours were found by the approximate search (projects above 10,000 images). */
  exactNeighbours: boolean;
}

export interface ClusterlensProject {
  readonly dir: string;
  /** Project image paths, in project (CSV row) order. */
  readonly paths: readonly string[];
  score(input: ImageInput): Promise<ScoreResult>;
  score(input: ImageInput[]): Promise<ScoreResult[]>;
  similar(query: Query, opts?: SimilarOptions): Promise<SimilarResult[]>;
  outliers(opts?: OutliersOptions): Promise<OutlierEntry[]>;
  /** Outliers with the fence and counts (what the CLI prints). */
  outlierReport(opts?: OutliersOptions): Promise<OutlierReport>;
  duplicates(opts?: DuplicateOptions): Promise<DuplicateEntry[]>;
  /** Latent vectors of images (project images use their stored codes; others go through the model). */
  embed(inputs: ImageInput[]): Promise<Float32Array>;
  /** The codes, n×d float32 in project order. */
  embeddings(): Promise<{ codes: Float32Array; n: number; d: number }>;
  exportEmbeddings(outFile: string): Promise<{ rows: number; dims: number; file: string }>;
  /** What the model sees of an image (decoded at the model's size) and what it reconstructs from its code. */
  reconstruct(input: ImageInput): Promise<Reconstruction>;
  close(): Promise<void>;
}

export interface Reconstruction {
  size: number;
  channels: number;
  /** The image at the model's size, uint8 size×size×channels. */
  input: Uint8Array;
  /** The autoencoder's reconstruction, same layout. */
  output: Uint8Array;
  /** Mean squared error between the two, pixels in [0, 1]. */
  error: number;
}

export interface OpenProjectOptions {
  /** Options of the label scorer (m, alpha, calibration sample, metric). */
  scoring?: LabelScorerOptions;
}

export async function openProject(dir: string, opts: OpenProjectOptions = {}): Promise<ClusterlensProject> {
  const store = await ProjectStore.open(dir);
  return new Project(store, opts);
}

type Resolved = { row: number; label: string } | { file: ImageInput; label: string };

class Project implements ClusterlensProject {
  private codes?: Promise<NeighborIndex>;
  private model?: Promise<Autoencoder>;
  private knn?: Promise<KnnGraph>;
  private outlierCache = new Map<number, OutlierResult>();
  private scorer?: { signature: string; scorer: LabelScorer };
  private byPath?: Map<string, number>;
  private closed = false;

  constructor(
    private readonly store: ProjectStore,
    private readonly opts: OpenProjectOptions,
  ) {}

  get dir(): string {
    return this.store.dir;
  }

  get paths(): readonly string[] {
    return this.store.manifest.images.map((i) => i.path);
  }

  private check(): void {
    if (this.closed) throw new Error('the project was closed');
  }

  private index(): Promise<NeighborIndex> {
    this.check();
    this.codes ??= (async () => {
      if (this.store.n === 0) throw new UserError(`the project has no images yet: run "clusterlens analyze" first (${this.dir})`);
      if (!this.store.has('codes')) throw new UserError(`the project has no embeddings yet (codes.npy): run "clusterlens analyze" first (${this.dir})`);
      const { data, shape } = await this.store.readFloat('codes');
      if (shape.length !== 2) throw new UserError(`${this.store.path('codes')}: expected n×d, got shape ${shape.join('×')}`);
      return new NeighborIndex(data, shape[0], shape[1]);
    })().catch((e: unknown) => {
      this.codes = undefined;
      throw e;
    });
    return this.codes;
  }

  private autoencoder(): Promise<Autoencoder> {
    this.check();
    this.model ??= (async () => {
      if (!this.store.has('model') || !existsSync(resolve(this.store.path('model'), 'model.json'))) {
        throw new UserError(`the project has no model to embed new images (run "clusterlens analyze" to train one): ${this.dir}`);
      }
      // tfjs is loaded only now: similarity between project images needs no model.
      const [{ initTf }, { Autoencoder: AE }] = await Promise.all([import('./tf/backend.js'), import('./autoencoder.js')]);
      await initTf();
      const ae = await AE.load(this.store.path('model'));
      const m = this.store.manifest;
      const index = await this.index();
      if (ae.config.size !== m.settings.size || ae.config.channels !== m.channels || ae.config.latent !== index.d) {
        ae.dispose();
        throw new UserError(
          `the saved model (size ${ae.config.size}, ${ae.config.channels} channels, latent ${ae.config.latent}) does not match the project (size ${m.settings.size}, ${m.channels} channels, latent ${index.d}): run "clusterlens analyze" again`,
        );
      }
      return ae;
    })().catch((e: unknown) => {
      this.model = undefined;
      throw e;
    });
    return this.model;
  }

  private rowOfPath(p: string): number | undefined {
    this.byPath ??= new Map(this.store.manifest.images.map((img, i) => [img.path, i]));
    const direct = this.byPath.get(p.replace(/\\/g, '/'));
    if (direct !== undefined) return direct;
    // An absolute (or cwd-relative) path inside the dataset folder.
    const abs = resolve(p);
    const rel = relative(this.store.manifest.datasetRoot, abs);
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return this.byPath.get(rel.split(sep).join('/'));
    return undefined;
  }

  private resolveInput(input: ImageInput, i: number): Resolved {
    if (typeof input !== 'string') return { file: input, label: `<buffer ${i}>` };
    const row = this.rowOfPath(input);
    if (row !== undefined) return { row, label: input };
    if (existsSync(input)) {
      if (statSync(input).isDirectory()) throw new UserError(`not an image file but a folder: ${input}`);
      return { file: input, label: input };
    }
    throw new UserError(`not an image of the project and no such file: ${input}`);
  }

  /** Codes of resolved inputs: stored rows as they are, files through the model in one batch. */
  private async vectors(resolved: Resolved[]): Promise<Float32Array> {
    const index = await this.index();
    const d = index.d;
    const out = new Float32Array(resolved.length * d);
    const files = resolved.map((r, i) => ({ r, i })).filter((x): x is { r: { file: ImageInput; label: string }; i: number } => 'file' in x.r);
    if (files.length > 0) {
      const size = this.store.manifest.settings.size;
      const channels = this.store.manifest.channels;
      const per = size * size * channels;
      const pixels = new Uint8Array(files.length * per);
      // Decode first: a file that is not an image is reported as such, before any model question.
      for (let f = 0; f < files.length; f++) pixels.set(await decodeOne(files[f].r.file, { size, channels }), f * per);
      const ae = await this.autoencoder();
      const enc = await ae.encode(pixels, files.length);
      files.forEach((f, t) => out.set(enc.codes.subarray(t * d, (t + 1) * d), f.i * d));
    }
    resolved.forEach((r, i) => {
      if ('row' in r) out.set(index.row(r.row), i * d);
    });
    return out;
  }

  async reconstruct(input: ImageInput): Promise<Reconstruction> {
    const r = this.resolveInput(input, 0);
    const file = 'row' in r ? resolve(this.store.manifest.datasetRoot, this.store.manifest.images[r.row].path) : r.file;
    const { size } = this.store.manifest.settings;
    const channels = this.store.manifest.channels;
    const pixels = await decodeOne(file, { size, channels });
    const ae = await this.autoencoder();
    const output = await ae.reconstruct(pixels, 1);
    let sum = 0;
    for (let i = 0; i < pixels.length; i++) {
      const d = (pixels[i] - output[i]) / 255;
      sum += d * d;
    }
    return { size, channels, input: pixels, output, error: sum / pixels.length };
  }

  async embed(inputs: ImageInput[]): Promise<Float32Array> {
    return this.vectors(inputs.map((x, i) => this.resolveInput(x, i)));
  }

  async embeddings(): Promise<{ codes: Float32Array; n: number; d: number }> {
    const index = await this.index();
    return { codes: index.data, n: index.n, d: index.d };
  }

  async similar(query: Query, opts: SimilarOptions = {}): Promise<SimilarResult[]> {
    const index = await this.index();
    const top = opts.top ?? 10;
    if (!Number.isInteger(top) || top < 1) throw new UserError(`top must be a whole number ≥ 1, got ${top}`);
    const metric = opts.metric ?? DEFAULT_METRIC;
    let vector: Float32Array;
    let exclude = -1;
    if (query instanceof Float32Array) {
      vector = query;
    } else if (typeof query === 'number') {
      if (!Number.isInteger(query) || query < 0 || query >= index.n) throw new UserError(`image index ${query} is out of range (0..${index.n - 1})`);
      vector = index.row(query);
      exclude = query;
    } else {
      const r = this.resolveInput(query, 0);
      if ('row' in r) {
        vector = index.row(r.row);
        exclude = r.row;
      } else {
        vector = await this.vectors([r]);
      }
    }
    const images = this.store.manifest.images;
    return index.query(vector, top, { metric, exclude }).map((x) => ({ path: images[x.index].path, index: x.index, distance: x.distance }));
  }

  private knnGraph(opts: StepOptions): Promise<KnnGraph> {
    this.knn ??= (async () => {
      const index = await this.index();
      return allKnn(index.data, index.n, index.d, DEFAULT_OUTLIER_K, { metric: DEFAULT_METRIC, ...opts });
    })().catch((e: unknown) => {
      this.knn = undefined;
      throw e;
    });
    return this.knn;
  }

  async outlierReport(opts: OutliersOptions = {}): Promise<OutlierReport> {
    const index = await this.index();
    const c = opts.c ?? DEFAULT_FENCE;
    if (!(c >= 0) || !Number.isFinite(c)) throw new UserError(`c must be a number ≥ 0, got ${c}`);
    let res = this.outlierCache.get(c);
    if (!res) {
      const knn = await this.knnGraph(opts);
      const errors = this.store.has('errors') ? (await this.store.readFloat('errors')).data : undefined;
      res = await outlierScores(index.data, index.n, index.d, errors, { c, knn, k: DEFAULT_OUTLIER_K });
      this.outlierCache.set(c, res);
    }
    const flagged = res.flagged.reduce((a, b) => a + b, 0);
    const top = opts.top ?? flagged;
    if (!Number.isInteger(top) || top < 0) throw new UserError(`top must be a whole number ≥ 0, got ${top}`);
    const images = this.store.manifest.images;
    const errors = res.errorZ ? (await this.store.readFloat('errors')).data : undefined;
    const r = res;
    const entries = Array.from(rankOutliers(r.scores).subarray(0, Math.min(top, index.n)), (i) => ({
      path: images[i].path,
      index: i,
      score: r.scores[i],
      flagged: r.flagged[i] === 1,
      knnDistance: r.knnDistance[i],
      reconstructionError: errors?.[i],
    }));
    return { entries, flagged, threshold: res.threshold, k: res.k, c, exactNeighbours: res.knn.exact };
  }

  async outliers(opts: OutliersOptions = {}): Promise<OutlierEntry[]> {
    return (await this.outlierReport(opts)).entries;
  }

  async duplicates(opts: DuplicateOptions = {}): Promise<DuplicateEntry[]> {
    this.check();
    const images = this.store.manifest.images;
    const hashes = images.map((i) => i.hash);
    let res;
    if (this.store.has('codes') && images.length > 1) {
      const index = await this.index();
      const knn = await this.knnGraph({});
      res = findDuplicateRows(hashes, knn, { data: index.data, d: index.d }, { metric: DEFAULT_METRIC, ...opts });
    } else {
      res = findDuplicateRows(hashes);
    }
    return res.duplicates.map((x) => ({ path: images[x.index].path, duplicateOf: images[x.of].path, kind: x.kind, distance: x.distance }));
  }

  private async labelScorer(): Promise<LabelScorer> {
    const index = await this.index();
    const labels = await this.store.openLabels();
    let labelOf: (string | undefined)[];
    try {
      labelOf = this.store.manifest.images.map((img) => labels.get(img.path)?.label ?? undefined);
    } finally {
      await labels.close();
    }
    if (!labelOf.some((l) => l !== undefined)) throw new UserError(`the project has no labels yet: label some images first (clusterlens label ${this.dir} --cluster N --as NAME)`);
    const signature = JSON.stringify(labelOf);
    if (this.scorer?.signature !== signature) this.scorer = { signature, scorer: LabelScorer.build(index, labelOf, this.opts.scoring) };
    return this.scorer.scorer;
  }

  score(input: ImageInput): Promise<ScoreResult>;
  score(input: ImageInput[]): Promise<ScoreResult[]>;
  async score(input: ImageInput | ImageInput[]): Promise<ScoreResult | ScoreResult[]> {
    const list = Array.isArray(input) ? input : [input];
    const resolved = list.map((x, i) => this.resolveInput(x, i));
    const scorer = await this.labelScorer();
    const index = await this.index();
    const vectors = await this.vectors(resolved);
    const images = this.store.manifest.images;
    const out = resolved.map((r, i): ScoreResult => {
      const v = vectors.subarray(i * index.d, (i + 1) * index.d);
      const exclude = 'row' in r ? r.row : -1;
      const s = scorer.score(v, exclude);
      const nn = index.query(v, 1, { metric: scorer.metric, exclude })[0];
      return { input: r.label, ...s, nearest: nn && { path: images[nn.index].path, distance: nn.distance } };
    });
    return Array.isArray(input) ? out : out[0];
  }

  async exportEmbeddings(outFile: string): Promise<{ rows: number; dims: number; file: string }> {
    const index = await this.index();
    const file = resolve(outFile);
    const ext = extname(file).toLowerCase();
    if (ext === '.npy') {
      await writeNpy(file, index.data, [index.n, index.d]);
    } else if (ext === '.csv') {
      const header = ['path', ...Array.from({ length: index.d }, (_, t) => `e${t}`)];
      // 9 significant digits round-trip a float32 exactly.
      const rows = this.store.manifest.images.map((img, i) => [img.path, ...Array.from(index.row(i), (v) => Number(v.toPrecision(9)))]);
      await writeCsv(file, header, rows);
    } else {
      throw new UserError(`--out must end in .npy or .csv: ${outFile}`);
    }
    return { rows: index.n, dims: index.d, file };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const model = this.model;
    this.model = undefined;
    if (model) {
      try {
        (await model).dispose();
      } catch {
        // Loading had failed: nothing to free.
      }
    }
  }
}

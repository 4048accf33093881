/**
 * The backend's one session: owns the open project (its ProjectStore, one LabelStore kept open, a lazily opened
 * similarity index), runs analysis jobs on a worker thread, and answers every request of the API contract
 * (src/shared/api.ts). Both transports — the local HTTP server (src/main/server.ts) and Electron IPC — call
 * `handle(method, params)` and forward `onEvent` events; neither knows anything else about projects.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { ApiParams, type ApiErrorShape, type ApiEvent, type ApiMethod, type ApiResults, type ClusterEditResult, type EditResult, type Points, type ProjectState, type RunSettings } from '../shared/api.js';
import { ProjectStore } from '../core/project.js';
import type { LabelStore, EditSummary } from '../core/labels.js';
import { exportCsv, mergeClusters, unmergeClusters, type MergeResult } from '../core/operations.js';
import { openProject, type ClusterlensProject } from '../core/open-project.js';
import { cacheDir, DEMO_CHECKPOINT, DEMO_PACK, DEMO_SETTINGS, PACKAGE_ROOT } from '../core/demo.js';
import { describeIssues } from '../core/fsutil.js';
import { CancelledError, UserError } from '../core/types.js';
import type { AnalyzeOptions } from '../core/pipeline.js';
import { AnalyzeJob } from './jobs.js';
import type { WorkerJob, WorkerOut } from './analyze-worker.js';
import { RecentProjects } from './recent.js';
import { PathGuardError, resolveInside } from './path-guard.js';

export type ApiErrorCode = ApiErrorShape['code'];

/** An error a request ends with: a stable code and one line for a person. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }

  toJSON(): ApiErrorShape {
    return { code: this.code, message: this.message };
  }
}

/** HTTP status for each error code. */
export const ERROR_STATUS: Record<ApiErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  no_project: 409,
  busy: 409,
  forbidden: 403,
  internal: 500,
};

/** Any thrown value → ApiErrorShape (one line, never a stack). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof PathGuardError) return new ApiError(e.code, e.message);
  if (e instanceof CancelledError) return new ApiError('bad_request', 'cancelled');
  const msg = firstLine(e instanceof Error ? e.message : String(e));
  if (e instanceof UserError) return new ApiError(/\bnot found\b/.test(msg) ? 'not_found' : 'bad_request', msg);
  const err = e as NodeJS.ErrnoException | undefined;
  if (err && typeof err.code === 'string') {
    if (err.code === 'ENOENT') return new ApiError('not_found', `not found: ${err.path ?? msg}`);
    if (err.code === 'EACCES' || err.code === 'EPERM') return new ApiError('forbidden', `permission denied: ${err.path ?? msg}`);
  }
  return new ApiError('internal', msg || 'internal error');
}

/** The error with `prefix` on its message (which file a decode error is about), kept as a UserError if it was one. */
function prefixError(e: unknown, prefix: string): unknown {
  if (e instanceof UserError) return new UserError(prefix + e.message);
  if (e instanceof Error) return new UserError(prefix + firstLine(e.message));
  return e;
}

async function pngOf(pixels: Uint8Array, size: number, channels: number): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: size, height: size, channels: channels as 1 | 3 } }).png().toBuffer();
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

export interface DemoOptions {
  /** Where the demo project goes (default `<cacheDir()>/demo-project`). */
  projectDir?: string;
  /** Use only the first n images of the sample (default: all). */
  limit?: number;
  /** Where the sample is unpacked (default: the cache). */
  imagesDir?: string;
  /** Analysis settings (default size 28, k 10). */
  settings?: RunSettings;
}

export interface SessionOptions {
  mode: 'electron' | 'browser';
  /** Folder for the recent-projects list (default cacheDir()). */
  stateDir?: string;
  /** Overrides for `demo.open` (tests use a small sample). */
  demo?: DemoOptions;
}

interface OpenState {
  store: ProjectStore;
  labels: LabelStore;
  paths: string[];
  index: Map<string, number>;
  project?: Promise<ClusterlensProject>;
  points?: Promise<Omit<Points, 'label'>>;
}

type Handler<M extends ApiMethod> = (params: ApiParamsOut<M>) => Promise<ApiResults[M]>;
type ApiParamsOut<M extends ApiMethod> = ReturnType<(typeof ApiParams)[M]['parse']>;

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function describeEdit(e: EditSummary): string {
  const what =
    e.kind === 'rename' ? `rename "${e.from}" → "${e.label}"` : e.kind === 'delete' ? `delete label "${e.label}"` : e.kind === 'clear' ? 'clear labels' : `label "${e.label}"`;
  return `${what} on ${e.count} image${e.count === 1 ? '' : 's'}${e.note ? ` (${e.note})` : ''}`;
}

function settingsToOptions(s: RunSettings): Omit<AnalyzeOptions, 'project' | 'folder'> {
  return {
    size: s.size,
    color: s.color,
    latent: s.latent,
    epochs: s.epochs,
    sample: s.sample,
    seed: s.seed,
    k: s.k,
    clusterOn: s.clusterOn,
    clusterMethod: s.clusterMethod,
    mapExaggeration: s.mapExaggeration,
    mapFeatures: s.mapFeatures,
    projector: s.projector,
    preset: s.preset,
    retrain: s.retrain,
  };
}

let cachedVersion: string | undefined;
function packageVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      cachedVersion = '0.0.0';
    }
  }
  return cachedVersion;
}

export class Session {
  readonly mode: 'electron' | 'browser';
  private readonly recent: RecentProjects;
  private readonly demo: DemoOptions;
  private readonly listeners = new Set<(e: ApiEvent) => void>();
  private open?: OpenState;
  /** Serialises opening/closing projects so requests never see a half-open project. */
  private openQueue: Promise<unknown> = Promise.resolve();
  private job?: AnalyzeJob;
  private closed = false;
  private readonly handlers: { [M in ApiMethod]: Handler<M> };

  constructor(opts: SessionOptions) {
    this.mode = opts.mode;
    this.recent = new RecentProjects(opts.stateDir ?? cacheDir());
    this.demo = opts.demo ?? {};
    this.handlers = {
      'app.info': async () => ({ version: packageVersion(), mode: this.mode, backend: this.open?.store.manifest.backend, demoAvailable: existsSync(DEMO_PACK) }),
      'recent.list': async () => ({ projects: await this.recent.list() }),
      'project.open': async ({ dir }) => {
        await this.openProjectDir(resolve(dir));
        return this.state();
      },
      'analyze.start': async (p) => ({ jobId: this.startAnalyze(p) }),
      'demo.open': async () => this.openDemo(),
      'job.cancel': async ({ jobId }) => {
        const job = this.job;
        if (!job || job.id !== jobId || !job.running) return { cancelled: false };
        job.cancel();
        return { cancelled: true };
      },
      'project.state': async () => this.state(),
      'project.points': async () => this.points(),
      'labels.assign': async ({ paths, label, source }) => {
        const o = this.current();
        const missing = paths.filter((p) => !o.index.has(p));
        if (missing.length) throw new ApiError('not_found', `${missing.length} path(s) are not in the project, e.g. ${missing[0]}`);
        return this.edited(await o.labels.assign(paths, label, source));
      },
      'labels.cluster': async ({ cluster, label }) => {
        const o = this.current();
        const k = o.store.manifest.clustering?.k;
        if (k === undefined || !o.store.has('clusters')) throw new ApiError('bad_request', 'the project has no clusters yet: analyze it first');
        if (cluster >= k) throw new ApiError('bad_request', `cluster ${cluster} does not exist (the project has clusters 0..${k - 1})`);
        const { cluster: ids } = await this.columns(o);
        const paths = o.paths.filter((_, i) => ids[i] === cluster);
        return this.edited(await o.labels.assign(paths, label, 'cluster', `cluster ${cluster}`));
      },
      'labels.rename': async ({ from, to }) => this.edited(await this.current().labels.renameLabel(from, to)),
      'labels.delete': async ({ label }) => this.edited(await this.current().labels.deleteLabel(label)),
      'labels.undo': async () => {
        const r = await this.current().labels.undo();
        if (!r) return { description: 'nothing to undo', count: 0, state: await this.state() };
        return this.edited(r, 'undid: ');
      },
      'labels.redo': async () => {
        const r = await this.current().labels.redo();
        if (!r) return { description: 'nothing to redo', count: 0, state: await this.state() };
        return this.edited(r, 'redid: ');
      },
      'export.csv': async ({ out }) => this.exportCsv(out),
      similar: async ({ path, top }) => {
        const o = this.current();
        if (!o.index.has(path)) throw new ApiError('not_found', `not an image of the project: ${path}`);
        if (!o.store.has('codes')) throw new ApiError('bad_request', 'the project has no latent codes yet: analyze it first');
        const p = await this.projectOf(o);
        const res = await p.similar(path, { top });
        return { query: path, neighbours: res.map((r) => ({ path: r.path, distance: r.distance })) };
      },
      outliers: async ({ top }) => {
        const o = this.current();
        if (!o.store.has('codes')) throw new ApiError('bad_request', 'the project has no latent codes yet: analyze it first');
        const p = await this.projectOf(o);
        const res = await p.outliers({ top });
        return { items: res.map((r) => ({ path: r.path, score: r.score, flagged: r.flagged })) };
      },
      'similar.image': async ({ name, data, top }) => {
        const o = this.current();
        if (!o.store.has('codes')) throw new ApiError('bad_request', 'the project has no latent codes yet: analyze it first');
        const bytes = Buffer.from(data, 'base64');
        const p = await this.projectOf(o);
        const res = await p.similar(bytes, { top }).catch((e: unknown) => {
          throw prefixError(e, `${name}: `);
        });
        let score: ApiResults['similar.image']['score'] = null;
        if (o.labels.counts().size > 0) {
          const sc = await p.score(bytes);
          score = { label: sc.label, score: sc.score, outlier: sc.outlier };
        }
        return { query: name, neighbours: res.map((r) => ({ path: r.path, distance: r.distance })), score };
      },
      'image.reconstruction': async ({ path }) => {
        const o = this.current();
        if (!o.index.has(path)) throw new ApiError('not_found', `not an image of the project: ${path}`);
        await this.imagePath(path); // inside the dataset root, or refused
        const p = await this.projectOf(o);
        const r = await p.reconstruct(path);
        const png = async (px: Uint8Array) => `data:image/png;base64,${(await pngOf(px, r.size, r.channels)).toString('base64')}`;
        return { size: r.size, channels: r.channels, original: await png(r.input), reconstruction: await png(r.output), error: r.error };
      },
      'clusters.merge': async ({ clusters }) => {
        const o = this.current();
        this.refuseWhileAnalyzing();
        return this.clustersEdited(o, await mergeClusters(o.store, clusters), 'merged');
      },
      'clusters.unmerge': async () => {
        const o = this.current();
        this.refuseWhileAnalyzing();
        const r = await unmergeClusters(o.store);
        if (!r) return { description: 'nothing to undo', state: await this.state() };
        return this.clustersEdited(o, r, 'unmerged');
      },
    };
  }

  // ------------------------------------------------------------------ requests

  /** Validate `params` against the contract and run the request. Errors are ApiError (code + one line). */
  async handle(method: string, params: unknown): Promise<unknown> {
    if (this.closed) throw new ApiError('internal', 'the session is closed');
    if (typeof method !== 'string' || !Object.hasOwn(ApiParams, method)) {
      throw new ApiError('bad_request', `unknown method: ${String(method).slice(0, 100)}`);
    }
    const m = method as ApiMethod;
    const parsed = ApiParams[m].safeParse(params ?? {});
    if (!parsed.success) throw new ApiError('bad_request', `${m}: invalid params: ${describeIssues(parsed.error.issues)}`);
    try {
      const handler = this.handlers[m] as (p: unknown) => Promise<unknown>;
      return await handler(parsed.data);
    } catch (e) {
      throw toApiError(e);
    }
  }

  onEvent(listener: (e: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: ApiEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A broken listener (a closed connection) must not stop the others.
      }
    }
  }

  /** The real absolute path of an image of the open project, only when it lies inside the dataset root. */
  async imagePath(rel: string): Promise<string> {
    const o = this.current();
    return resolveInside(o.store.manifest.datasetRoot, rel);
  }

  /** The open project's folder and dataset root, if any. */
  get project(): { dir: string; datasetRoot: string } | undefined {
    return this.open && { dir: this.open.store.dir, datasetRoot: this.open.store.manifest.datasetRoot };
  }

  /** The running job's id, if any. */
  get jobId(): string | undefined {
    return this.job?.running ? this.job.id : undefined;
  }

  /** Stop a running job, release the project. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.job?.terminate();
    await this.serialOpen(() => this.closeProject());
    this.listeners.clear();
  }

  // ------------------------------------------------------------------ project

  private current(): OpenState {
    if (!this.open) throw new ApiError('no_project', 'no project is open: open a project or start an analysis first');
    return this.open;
  }

  private serialOpen<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.openQueue.then(fn, fn);
    this.openQueue = next.catch(() => {});
    return next;
  }

  private async closeProject(): Promise<void> {
    const o = this.open;
    this.open = undefined;
    if (!o) return;
    await o.labels.close().catch(() => {});
    if (o.project) await (await o.project.catch(() => undefined))?.close().catch(() => {});
  }

  private openProjectDir(dir: string): Promise<void> {
    return this.serialOpen(async () => {
      if (!existsSync(dir)) throw new ApiError('not_found', `project not found: ${dir}`);
      if (!ProjectStore.exists(dir)) throw new ApiError('bad_request', `not a Clusterlens project (no project.json): ${dir}`);
      const store = await ProjectStore.open(dir);
      const labels = await store.openLabels();
      await this.closeProject();
      const paths = store.manifest.images.map((i) => i.path);
      this.open = { store, labels, paths, index: new Map(paths.map((p, i) => [p, i])) };
      await this.recent.add(store.dir).catch(() => {});
    });
  }

  private projectOf(o: OpenState): Promise<ClusterlensProject> {
    o.project ??= openProject(o.store.dir).catch((e: unknown) => {
      o.project = undefined;
      throw e;
    });
    return o.project;
  }

  async state(): Promise<ProjectState> {
    const { store, labels } = this.current();
    const m = store.manifest;
    const counts = [...labels.counts().entries()].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
    const s = m.settings;
    const state: ProjectState = {
      dir: store.dir,
      datasetRoot: m.datasetRoot,
      images: m.images.length,
      skipped: m.skipped,
      settings: { size: s.size, color: s.color, latent: s.latent, epochs: s.epochs, sample: s.sample, seed: s.seed, clusterOn: s.clusterOn, clusterMethod: s.clusterMethod ?? 'kmeans', mapExaggeration: s.mapExaggeration ?? 1, mapFeatures: s.mapFeatures ?? 'codes', projector: s.projector, preset: s.preset, k: m.clustering?.k ?? null },
      labels: counts,
      labeled: counts.reduce((a, c) => a + c.count, 0),
      canUndo: labels.canUndo(),
      canRedo: labels.canRedo(),
    };
    if (m.backend) state.backend = m.backend;
    if (m.model) state.model = { finalLoss: m.model.finalLoss, losses: m.model.losses, trainedOn: m.model.trainedOn };
    if (m.clustering) state.clusters = { k: m.clustering.k, sizes: m.clustering.sizes, method: m.clustering.method, merges: m.clustering.merges?.length ?? 0, ...(m.clustering.suggested ? { suggested: m.clustering.suggested.reason } : {}) };
    if (m.projection) state.projection = { method: m.projection.method, features: m.projection.features ?? 'codes', ...(m.projection.note ? { note: m.projection.note } : {}) };
    return state;
  }

  /** Every column of the map except labels, read once per opened project. */
  private columns(o: OpenState): Promise<Omit<Points, 'label'>> {
    o.points ??= (async () => {
      const { store } = o;
      const n = store.n;
      if (!store.has('coords')) throw new ApiError('bad_request', 'the project has no map yet: analyze it first');
      const coords = (await store.readFloat('coords')).data;
      const clusters = store.has('clusters') ? await store.readClusters() : undefined;
      const errors = store.has('errors') ? (await store.readFloat('errors')).data : undefined;
      const outliers = store.has('outliers') ? (await store.readFloat('outliers')).data : undefined;
      const x = new Array<number>(n);
      const y = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        x[i] = round(coords[2 * i], 4);
        y[i] = round(coords[2 * i + 1], 4);
      }
      return {
        paths: o.paths,
        x,
        y,
        cluster: clusters ? Array.from(clusters) : new Array<number>(n).fill(-1),
        reconstructionError: errors ? Array.from(errors, (v) => Number(v.toPrecision(5))) : new Array<number>(n).fill(0),
        outlierScore: outliers ? Array.from(outliers, (v) => round(v, 4)) : new Array<number>(n).fill(0),
      };
    })().catch((e: unknown) => {
      o.points = undefined;
      throw e;
    });
    return o.points;
  }

  private async points(): Promise<Points> {
    const o = this.current();
    const cols = await this.columns(o);
    const label = o.paths.map((p) => o.labels.get(p)?.label ?? '');
    return { ...cols, label };
  }

  private refuseWhileAnalyzing(): void {
    if (this.job?.running) throw new ApiError('busy', 'an analysis is running: wait for it to finish (or cancel it) before merging clusters');
  }

  private async clustersEdited(o: OpenState, r: MergeResult, verb: 'merged' | 'unmerged'): Promise<ClusterEditResult> {
    o.points = undefined; // the cluster column changed
    const state = await this.state();
    this.emit({ type: 'clusters.changed', state });
    const ids = [r.into, ...r.from].join(', ');
    const description = verb === 'merged' ? `merged clusters ${ids} into ${r.into} (${r.moved} images moved)` : `undid the merge of clusters ${ids} (${r.moved} images moved back)`;
    return { description, state };
  }

  private async edited(e: EditSummary, prefix = ''): Promise<EditResult> {
    const state = await this.state();
    if (e.count > 0 || prefix) this.emit({ type: 'labels.changed', state });
    return { description: prefix + describeEdit(e), count: e.count, state };
  }

  private async exportCsv(out: string | undefined): Promise<ApiResults['export.csv']> {
    const o = this.current();
    if (out !== undefined) {
      const file = resolve(out);
      if (extname(file).toLowerCase() !== '.csv') throw new ApiError('bad_request', `out must be a .csv file: ${file}`);
      if (existsSync(file) && statSync(file).isDirectory()) throw new ApiError('bad_request', `out is a folder: ${file}`);
      const r = await exportCsv(o.store, file);
      return { rows: r.rows, labeled: r.labeled, out: file };
    }
    const dir = await mkdtemp(join(tmpdir(), 'clusterlens-export-'));
    try {
      const file = join(dir, 'labels.csv');
      const r = await exportCsv(o.store, file);
      return { rows: r.rows, labeled: r.labeled, csv: await readFile(file, 'utf8') };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // ------------------------------------------------------------------ jobs

  private checkIdle(): void {
    if (this.job?.running) throw new ApiError('busy', 'an analysis is already running: wait for it or cancel it');
  }

  private startAnalyze(p: ApiParamsOut<'analyze.start'>): string {
    this.checkIdle();
    const project = resolve(p.project);
    const folder = p.folder !== undefined ? resolve(p.folder) : undefined;
    if (folder !== undefined && (!existsSync(folder) || !statSync(folder).isDirectory())) throw new ApiError('not_found', `image folder not found: ${folder}`);
    if (folder === undefined && !ProjectStore.exists(project)) throw new ApiError('bad_request', `folder is required: ${project} is not an existing project`);
    if (existsSync(project) && !statSync(project).isDirectory()) throw new ApiError('bad_request', `project path is a file, not a folder: ${project}`);
    return this.runJob({ kind: 'analyze', options: { ...settingsToOptions(p.settings), folder, project } });
  }

  private async openDemo(): Promise<ApiResults['demo.open']> {
    this.checkIdle();
    const project = resolve(this.demo.projectDir ?? join(cacheDir(), 'demo-project'));
    if (ProjectStore.exists(project)) {
      try {
        const store = await ProjectStore.open(project);
        const complete = store.n > 0 && !!store.manifest.clustering && !!store.manifest.projection && store.has('coords') && store.has('clusters') && store.has('codes');
        if (complete) {
          await this.openProjectDir(project);
          return { jobId: null, state: await this.state() };
        }
      } catch {
        // Unreadable: analyze it again below.
      }
    }
    if (!existsSync(DEMO_PACK)) throw new ApiError('not_found', 'the demo sample is not installed with this copy of Clusterlens');
    const settings = { ...DEMO_SETTINGS, ...(this.demo.settings ?? {}) } satisfies RunSettings;
    // The bundled checkpoint was trained with the demo's settings, so the demo opens in seconds; analyze checks
    // the settings match before it uses it.
    const pretrained = existsSync(DEMO_CHECKPOINT) ? DEMO_CHECKPOINT : undefined;
    const jobId = this.runJob({ kind: 'demo', options: { ...settingsToOptions(settings), project, pretrained }, limit: this.demo.limit, dir: this.demo.imagesDir });
    return { jobId };
  }

  private runJob(spec: WorkerJob): string {
    this.checkIdle();
    const job = new AnalyzeJob(spec, (m) => this.forward(job.id, m));
    this.job = job;
    const project = resolve(spec.options.project);
    void job.outcome.then(async (o) => {
      if (this.closed) return;
      if (!o.ok) {
        this.emit({ type: 'job.failed', jobId: job.id, message: o.message, cancelled: o.cancelled });
        return;
      }
      try {
        await this.openProjectDir(project);
        this.emit({ type: 'job.done', jobId: job.id, state: await this.state() });
      } catch (e) {
        this.emit({ type: 'job.failed', jobId: job.id, message: `the analysis finished but the project could not be opened: ${toApiError(e).message}`, cancelled: false });
      }
    });
    return job.id;
  }

  private forward(jobId: string, m: Exclude<WorkerOut, { type: 'done' | 'failed' }>): void {
    if (m.type === 'progress') {
      const p = m.progress;
      const e: ApiEvent = { type: 'progress', jobId, step: p.step, done: p.done, total: p.total };
      if (p.message !== undefined) e.message = p.message;
      if (p.loss !== undefined) e.loss = p.loss;
      this.emit(e);
    } else if (m.type === 'frame') {
      const e: ApiEvent = { type: 'frame', jobId, iteration: m.iteration, totalIterations: m.totalIterations, x: m.x, y: m.y };
      if (m.indices) e.indices = m.indices;
      this.emit(e);
    } else {
      this.emit({ type: 'log', jobId, line: m.line });
    }
  }
}

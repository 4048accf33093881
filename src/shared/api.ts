/**
 * The API contract between the UI (src/renderer) and the backend (src/main): one map from request name to
 * (params schema → result type), plus the events the backend pushes. Both transports — Electron IPC and the
 * local HTTP server — carry exactly this; the backend validates every request's params with these schemas.
 *
 * Keep this file free of Node and DOM imports: it is compiled for both sides.
 */
import { z } from 'zod';
import { MAX_IMAGE_BASE64 } from './limits.js';

const Label = z.string().trim().min(1).max(200);
const PathList = z.array(z.string().min(1)).max(1_000_000);

export const RunSettings = z.object({
  size: z.number().int().min(8).max(256).optional(),
  color: z.enum(['auto', 'rgb', 'gray']).optional(),
  latent: z.number().int().min(2).max(1024).optional(),
  epochs: z.number().int().min(1).max(1000).optional(),
  sample: z.number().int().min(1).optional(),
  seed: z.number().int().min(0).optional(),
  k: z.union([z.number().int().min(1).max(10_000), z.literal('suggest')]).optional(),
  clusterOn: z.enum(['map', 'codes']).optional(),
  clusterMethod: z.enum(['auto', 'kmeans', 'merge', 'manifold']).optional(),
  mapExaggeration: z.number().min(1).max(12).optional(),
  mapFeatures: z.enum(['auto', 'codes', 'codes+hog']).optional(),
  projector: z.enum(['bh', 'exact']).optional(),
  preset: z.string().optional(),
  retrain: z.boolean().optional(),
});
export type RunSettings = z.infer<typeof RunSettings>;

/** Request name → params schema. Results are typed in `ApiResults`. */
export const ApiParams = {
  'app.info': z.object({}),
  'recent.list': z.object({}),
  /** Open an existing project folder. */
  'project.open': z.object({ dir: z.string().min(1) }),
  /** Start analyzing a folder into a project (new or existing); progress and frames arrive as events. */
  'analyze.start': z.object({ folder: z.string().min(1).optional(), project: z.string().min(1), settings: RunSettings.default({}) }),
  /** Open the bundled demo set (unpacked on first use). */
  'demo.open': z.object({}),
  'job.cancel': z.object({ jobId: z.string() }),
  /** The open project's summary. */
  'project.state': z.object({}),
  /** Every point of the map in project order (columnar, for plotly). */
  'project.points': z.object({}),
  'labels.assign': z.object({ paths: PathList, label: Label.nullable(), source: z.enum(['cluster', 'selection', 'single']) }),
  'labels.cluster': z.object({ cluster: z.number().int().min(0), label: Label }),
  'labels.rename': z.object({ from: Label, to: Label }),
  'labels.delete': z.object({ label: Label }),
  'labels.undo': z.object({}),
  'labels.redo': z.object({}),
  /** Write the labeled CSV: to `out` (Electron, after a save dialog) or return its text (browser download). */
  'export.csv': z.object({ out: z.string().min(1).optional() }),
  'similar': z.object({ path: z.string().min(1), top: z.number().int().min(1).max(1000).default(24) }),
  'outliers': z.object({ top: z.number().int().min(1).max(100_000).default(100) }),
  /** Search by an image from outside the project (dropped on the window): its bytes, base64. */
  'similar.image': z.object({
    name: z.string().min(1).max(500),
    data: z.string().min(1).max(MAX_IMAGE_BASE64, 'the image is too large (at most 32 MB)').regex(/^[A-Za-z0-9+/]+={0,2}$/, 'data must be base64'),
    top: z.number().int().min(1).max(1000).default(48),
  }),
  /** The model's view of a project image and its reconstruction, as PNG data URLs. */
  'image.reconstruction': z.object({ path: z.string().min(1) }),
  /** Merge clusters into the lowest of their ids (ids stay stable; the others become empty). */
  'clusters.merge': z.object({ clusters: z.array(z.number().int().min(0)).min(2).max(10_000) }),
  /** Undo the last merge. */
  'clusters.unmerge': z.object({}),
} as const;

export type ApiMethod = keyof typeof ApiParams;
export type ParamsOf<M extends ApiMethod> = z.input<(typeof ApiParams)[M]>;

export interface LabelCount {
  label: string;
  count: number;
}

export interface ProjectState {
  dir: string;
  datasetRoot: string;
  images: number;
  skipped: { path: string; reason: string }[];
  settings: Required<Omit<RunSettings, 'k' | 'retrain'>> & { k: number | null };
  backend?: string;
  model?: { finalLoss: number; losses: number[]; trainedOn: number };
  /** `sizes` has k entries; a cluster merged into another has size 0. `merges`: merges that can be undone. */
  clusters?: { k: number; sizes: number[]; method: string; suggested?: string; merges: number };
  /** `features`: what the map was made from (settings.mapFeatures 'auto' resolves to one of these). */
  projection?: { method: string; features: 'codes' | 'codes+hog'; note?: string };
  labels: LabelCount[];
  labeled: number;
  canUndo: boolean;
  canRedo: boolean;
}

export interface Points {
  paths: string[];
  x: number[];
  y: number[];
  cluster: number[];
  /** Label per point, '' when unlabeled. */
  label: string[];
  reconstructionError: number[];
  outlierScore: number[];
}

export interface EditResult {
  /** What the edit did, e.g. 'label "Coat" on 812 images'. */
  description: string;
  count: number;
  state: ProjectState;
}

export interface ApiResults {
  'app.info': { version: string; mode: 'electron' | 'browser'; backend?: string; demoAvailable: boolean };
  'recent.list': { projects: { dir: string; openedAt: string }[] };
  'project.open': ProjectState;
  'analyze.start': { jobId: string };
  'demo.open': { jobId: string | null; state?: ProjectState };
  'job.cancel': { cancelled: boolean };
  'project.state': ProjectState;
  'project.points': Points;
  'labels.assign': EditResult;
  'labels.cluster': EditResult;
  'labels.rename': EditResult;
  'labels.delete': EditResult;
  'labels.undo': EditResult | { description: 'nothing to undo'; count: 0; state: ProjectState };
  'labels.redo': EditResult | { description: 'nothing to redo'; count: 0; state: ProjectState };
  'export.csv': { rows: number; labeled: number; out?: string; csv?: string };
  'similar': { query: string; neighbours: { path: string; distance: number }[] };
  'outliers': { items: { path: string; score: number; flagged: boolean }[] };
  'similar.image': { query: string; neighbours: { path: string; distance: number }[]; score: { label: string | null; score: number; outlier: boolean } | null };
  'image.reconstruction': { size: number; channels: number; original: string; reconstruction: string; error: number };
  'clusters.merge': ClusterEditResult;
  'clusters.unmerge': ClusterEditResult | { description: 'nothing to undo'; state: ProjectState };
}

export interface ClusterEditResult {
  /** e.g. 'merged clusters 3, 7 into 3 (812 images)'. */
  description: string;
  state: ProjectState;
}

/** Events pushed from the backend to every connected UI. */
export type ApiEvent =
  | { type: 'progress'; jobId: string; step: string; done: number; total: number; message?: string; loss?: number }
  | { type: 'frame'; jobId: string; iteration: number; totalIterations: number; x: number[]; y: number[]; indices?: number[] }
  | { type: 'log'; jobId: string; line: string }
  | { type: 'job.done'; jobId: string; state: ProjectState }
  | { type: 'job.failed'; jobId: string; message: string; cancelled: boolean }
  | { type: 'labels.changed'; state: ProjectState }
  | { type: 'clusters.changed'; state: ProjectState };

/** An error a request can end with; `code` is stable, `message` is one line for a person. */
export interface ApiErrorShape {
  code: 'bad_request' | 'not_found' | 'no_project' | 'busy' | 'forbidden' | 'internal';
  message: string;
}

/** The one interface the renderer talks to; the Electron preload and the browser client both implement it. */
export interface ClusterlensApi {
  invoke<M extends ApiMethod>(method: M, params: ParamsOf<M>): Promise<ApiResults[M]>;
  onEvent(listener: (event: ApiEvent) => void): () => void;
  /** URL of an image of the open project (thumbnail when `thumb` is set), served only from inside its dataset root. */
  imageUrl(path: string, thumb?: boolean): string;
}

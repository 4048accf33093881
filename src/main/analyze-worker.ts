/**
 * The compute worker: runs `analyze` (and, for the demo, unpacks the bundled sample first) on a worker thread so
 * that training and t-SNE never block the server or the Electron main process. Started by src/main/jobs.ts.
 *
 * Messages to the parent are `WorkerOut`; the parent sends `{ type: 'cancel' }` to abort (AbortController).
 * Progress is throttled per step and frames to at most FRAME_FPS per second, with coordinates rounded to 3
 * decimals and sent as plain number arrays (what the renderer plots directly).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { analyze, type AnalyzeOptions, type AnalyzeSummary } from '../core/pipeline.js';
import { ensureDemoFolder } from '../core/demo.js';
import { CancelledError } from '../core/types.js';
import type { Progress } from '../core/types.js';
import type { ProjectionFrame } from '../core/projection.js';

export type WorkerIn = { type: 'cancel' };

export type WorkerJob =
  | { kind: 'analyze'; options: AnalyzeOptions }
  /** Unpack the demo sample (at most `limit` images, into `dir` when given), then analyze it with `options`. */
  | { kind: 'demo'; options: Omit<AnalyzeOptions, 'folder'>; limit?: number; dir?: string };

export type WorkerOut =
  | { type: 'progress'; progress: Progress }
  | { type: 'frame'; iteration: number; totalIterations: number; x: number[]; y: number[]; indices?: number[] }
  | { type: 'log'; line: string }
  | { type: 'done'; summary: AnalyzeSummary }
  | { type: 'failed'; message: string; cancelled: boolean };

export const FRAME_FPS = 5;
const PROGRESS_EVERY_MS = 100;

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** Frame → message: columnar x/y rounded to 3 decimals. */
export function frameMessage(f: ProjectionFrame): WorkerOut {
  const n = f.coords.length >> 1;
  const x = new Array<number>(n);
  const y = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    x[i] = round3(f.coords[2 * i]);
    y[i] = round3(f.coords[2 * i + 1]);
  }
  const msg: WorkerOut = { type: 'frame', iteration: f.iteration, totalIterations: f.totalIterations, x, y };
  if (f.indices) msg.indices = Array.from(f.indices);
  return msg;
}

async function run(port: NonNullable<typeof parentPort>, job: WorkerJob): Promise<void> {
  const ac = new AbortController();
  port.on('message', (m: WorkerIn) => {
    if (m && m.type === 'cancel') ac.abort();
  });
  const post = (m: WorkerOut) => port.postMessage(m);

  let lastFrame = 0;
  const lastProgress = new Map<string, number>();
  const onProgress = (p: Progress) => {
    const now = Date.now();
    const prev = lastProgress.get(p.step);
    if (prev !== undefined && p.done < p.total && now - prev < PROGRESS_EVERY_MS) return;
    lastProgress.set(p.step, now);
    post({ type: 'progress', progress: { ...p } });
  };
  const onFrame = (f: ProjectionFrame) => {
    const now = Date.now();
    if (now - lastFrame < 1000 / FRAME_FPS) return;
    lastFrame = now;
    post(frameMessage(f));
  };
  const onLog = (line: string) => post({ type: 'log', line });

  try {
    let options: AnalyzeOptions;
    if (job.kind === 'demo') {
      const demo = await ensureDemoFolder({ limit: job.limit, dir: job.dir, onProgress, signal: ac.signal });
      onLog(`demo images: ${demo.n} Fashion-MNIST PNGs in ${demo.imagesDir}`);
      options = { ...job.options, folder: demo.imagesDir };
    } else {
      options = job.options;
    }
    const summary = await analyze(options, { onProgress, onFrame, onLog, signal: ac.signal });
    post({ type: 'done', summary });
  } catch (e) {
    const cancelled = e instanceof CancelledError || ac.signal.aborted;
    const message = cancelled ? 'cancelled: the project keeps every step that had finished' : e instanceof Error ? e.message.split('\n')[0] : String(e);
    post({ type: 'failed', message, cancelled });
  }
}

// The parent terminates the worker once it has the 'done' or 'failed' message (tfjs may keep handles open).
if (parentPort) void run(parentPort, workerData as WorkerJob);

/**
 * One analysis job on a worker thread (src/main/analyze-worker.ts).
 *
 * Starting the worker: from compiled JavaScript the worker is `dist/main/analyze-worker.js`, started directly.
 * From TypeScript sources (vitest, tsx) Node cannot load a `.ts` worker by itself, and on Node 20 a worker's
 * `execArgv: ['--import', 'tsx']` does not register the loader before the entry module is loaded; so the worker
 * is started from a two-line eval bootstrap that registers tsx's ESM loader (`tsx/esm/api` → `register()`) and
 * then imports `analyze-worker.ts`. Same code, same messages, either way.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AnalyzeSummary } from '../core/pipeline.js';
import type { WorkerIn, WorkerJob, WorkerOut } from './analyze-worker.js';

export type JobOutcome = { ok: true; summary: AnalyzeSummary } | { ok: false; message: string; cancelled: boolean };

/** How long a cancelled worker may take to stop by itself before it is terminated. */
const CANCEL_GRACE_MS = 10_000;

function tsxEsmApiUrl(from: string): string {
  const require = createRequire(from);
  const pkgFile = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: Record<string, unknown> };
  const entry = pkg.exports?.['./esm/api'] as { import?: { default?: string } } | undefined;
  const rel = entry?.import?.default ?? './dist/esm/api/index.mjs';
  return pathToFileURL(join(dirname(pkgFile), rel)).href;
}

/** Start the analyze worker with `job` as its workerData (works from dist/*.js and from src/*.ts). */
export function startAnalyzeWorker(job: WorkerJob): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./analyze-worker.ts', here).href;
    const api = tsxEsmApiUrl(here);
    const bootstrap = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(bootstrap, { eval: true, workerData: job });
  }
  return new Worker(new URL('./analyze-worker.js', here), { workerData: job });
}

export class AnalyzeJob {
  readonly id = randomUUID();
  /** Resolves once, when the worker reported its result, failed or was terminated. */
  readonly outcome: Promise<JobOutcome>;
  private readonly worker: Worker;
  private settled = false;
  private cancelTimer: NodeJS.Timeout | undefined;
  private resolveOutcome!: (o: JobOutcome) => void;

  constructor(
    job: WorkerJob,
    private readonly onMessage: (m: Exclude<WorkerOut, { type: 'done' | 'failed' }>) => void,
  ) {
    this.outcome = new Promise((resolve) => (this.resolveOutcome = resolve));
    this.worker = startAnalyzeWorker(job);
    this.worker.on('message', (m: WorkerOut) => {
      if (this.settled) return;
      if (m.type === 'done') this.finish({ ok: true, summary: m.summary });
      else if (m.type === 'failed') this.finish({ ok: false, message: m.message, cancelled: m.cancelled });
      else this.onMessage(m);
    });
    this.worker.on('error', (e: unknown) => {
      this.finish({ ok: false, message: `the analysis worker failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, cancelled: false });
    });
    this.worker.on('exit', (code) => {
      this.finish({ ok: false, message: `the analysis worker stopped unexpectedly (exit code ${code})`, cancelled: false });
    });
  }

  private finish(o: JobOutcome): void {
    if (this.settled) return;
    this.settled = true;
    if (this.cancelTimer) clearTimeout(this.cancelTimer);
    this.resolveOutcome(o);
    void this.worker.terminate().catch(() => {});
  }

  get running(): boolean {
    return !this.settled;
  }

  /** Ask the worker to stop (it finishes the current batch/iteration); terminate it if it does not within a few seconds. */
  cancel(): void {
    if (this.settled) return;
    this.worker.postMessage({ type: 'cancel' } satisfies WorkerIn);
    this.cancelTimer ??= setTimeout(() => this.finish({ ok: false, message: 'cancelled: the project keeps every step that had finished', cancelled: true }), CANCEL_GRACE_MS);
    this.cancelTimer.unref();
  }

  /** Stop at once (closing the session). */
  async terminate(): Promise<void> {
    if (this.settled) return;
    this.finish({ ok: false, message: 'cancelled: the app is closing', cancelled: true });
    await this.outcome;
  }
}

/** Shared types for every pipeline step (see DESIGN.md: typed input/output, onProgress, AbortSignal, seeded random). */

/** A uniform random number in [0, 1). Always injected, never Math.random, so the same seed gives the same result. */
export type Random = () => number;

export interface Progress {
  /** Step name, e.g. 'scan', 'decode', 'train', 'encode', 'kmeans', 'tsne'. */
  step: string;
  done: number;
  total: number;
  /** Optional human-readable detail ("epoch 2/5", "sampled 2,000 of 10,000 points"). */
  message?: string;
  /** Training loss of the last batch, when the step trains. */
  loss?: number;
}

export type ProgressFn = (p: Progress) => void;

export interface StepOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** Error for bad input that the CLI prints as one line without a stack trace. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Thrown by any step when its AbortSignal fires. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

/** Yield to the event loop so that abort signals and progress output can be seen during long loops. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A progress reporter that calls `onProgress` at most every `intervalMs` (always when forced), with the
 * Progress that `current()` describes at that moment. Loops call it on every item without flooding the UI.
 */
export function throttledProgress(onProgress: ProgressFn | undefined, current: () => Progress, intervalMs = 100): (force?: boolean) => void {
  let last = 0;
  return (force = false) => {
    if (!onProgress) return;
    const now = Date.now();
    if (!force && now - last < intervalMs) return;
    last = now;
    onProgress(current());
  };
}

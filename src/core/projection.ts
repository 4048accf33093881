import type { Random, StepOptions } from './types.js';

/** One intermediate state of a 2-D embedding, streamed so a UI can animate the map as it forms. */
export interface ProjectionFrame {
  iteration: number;
  totalIterations: number;
  /** Row-major n×2 coordinates of the points being optimised (all points, or the sample when sampling). */
  coords: Float32Array;
  /** When only a sample is optimised: which input rows `coords` belong to. */
  indices?: Uint32Array;
  /** KL divergence of the current state, when the method computes it cheaply. */
  kl?: number;
}

export interface ProjectOptions extends StepOptions {
  random: Random;
  /** Called now and then with the current state; never more often than the projector finds cheap. */
  onFrame?: (frame: ProjectionFrame) => void;
  perplexity?: number;
  iterations?: number;
}

export interface ProjectionResult {
  /** Row-major N×2 coordinates for every input row. */
  coords: Float32Array;
  /** Method that produced them, e.g. 'tsne-js (exact)' or 'barnes-hut t-SNE'. */
  method: string;
  /** What a user should know about how the map was made (sampling, placement), or undefined. */
  note?: string;
  /** Final KL divergence, when known. */
  kl?: number;
}

/** A method that maps n points of dimension d (row-major Float32Array) to 2-D. */
export interface Projector {
  readonly name: string;
  project(data: Float32Array, n: number, d: number, opts: ProjectOptions): Promise<ProjectionResult>;
}

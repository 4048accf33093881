import type { Projector } from './projection.js';
import { TsneJsProjector } from './tsnejs-projector.js';
import { BarnesHutProjector, defaultIterations } from './tsne/index.js';

/**
 * The map's projector: 'bh' (Barnes-Hut t-SNE, O(N log N), the default) or 'exact' (tsne-js, O(N²);
 * above its exact limit it runs on a sample and places the rest from their nearest sampled neighbours).
 */
/**
 * `exaggeration` (Barnes-Hut only): above 1, the whole run uses that exaggeration instead of classic t-SNE's early
 * exaggeration of 12 followed by 1 — tighter, better separated groups. tsne-js has no such option.
 */
export function makeProjector(name: 'bh' | 'exact', n: number, opts: { exaggeration?: number } = {}): Projector {
  if (name === 'exact') return new TsneJsProjector();
  const x = opts.exaggeration ?? 1;
  if (x === 1) return new BarnesHutProjector();
  const iterations = defaultIterations(n);
  return new BarnesHutProjector({ earlyExaggeration: x, earlyExaggerationIterations: iterations, iterations });
}

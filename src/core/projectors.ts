import type { Projector } from './projection.js';
import { TsneJsProjector } from './tsnejs-projector.js';
import { BarnesHutProjector } from './tsne/index.js';

/**
 * The map's projector: 'bh' (Barnes-Hut t-SNE, O(N log N), the default) or 'exact' (tsne-js, O(N²);
 * above its exact limit it runs on a sample and places the rest from their nearest sampled neighbours).
 */
export function makeProjector(name: 'bh' | 'exact', _n: number): Projector {
  return name === 'exact' ? new TsneJsProjector() : new BarnesHutProjector();
}

import type { Settings } from './project.js';

/**
 * Defaults for a run, chosen from measurements on a 2-core machine (see README, "Defaults").
 * epochs × sample bounds training time: the wasm backend trains the small preset at a few hundred images/s.
 */
export const DEFAULTS: Settings = {
  size: 32,
  color: 'auto',
  latent: 32,
  preset: 'small',
  epochs: 10,
  sample: 10_000,
  seed: 1,
  projector: 'bh',
  clusterOn: 'map',
  clusterMethod: 'auto',
  mapExaggeration: 2,
  mapFeatures: 'auto',
};

/** Library entry: the same core the CLI uses, for scripts and notebooks. */
export { analyze, type AnalyzeOptions, type AnalyzeSummary } from './core/pipeline.js';
export { ProjectStore } from './core/project.js';
export { exportCsv, importLabels, labelClusters, labelPaths } from './core/operations.js';
export { projectInfo } from './core/info.js';
export { DEFAULTS } from './core/defaults.js';
export { UserError, CancelledError, type Progress } from './core/types.js';
export {
  openProject,
  type ClusterlensProject,
  type ScoreResult,
  type SimilarResult,
  type SimilarOptions,
  type OutlierEntry,
  type OutliersOptions,
  type DuplicateEntry,
  type OpenProjectOptions,
} from './core/open-project.js';
export { NeighborIndex, allKnn, type Metric } from './core/neighbors.js';
export { outlierScores, findDuplicateRows } from './core/outliers.js';
export { LabelScorer } from './core/scoring.js';

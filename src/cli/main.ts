import { Command, InvalidArgumentError, Option } from 'commander';
import { join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { AUTO_HOG_FROM, analyze, type AnalyzeSummary } from '../core/pipeline.js';
import { ProjectStore } from '../core/project.js';
import { exportCsv, importLabels, labelClusters, mergeClusters, unmergeClusters } from '../core/operations.js';
import { projectInfo, type ProjectInfo } from '../core/info.js';
import { DEFAULTS } from '../core/defaults.js';
import { DEMO_CHECKPOINT, DEMO_SETTINGS, ensureDemoFolder, PACKAGE_ROOT } from '../core/demo.js';
import { CancelledError, UserError } from '../core/types.js';
import type { EditSummary } from '../core/labels.js';
import { ProgressBars, fmtSeconds } from './progress.js';
import { exportEmbeddingsCommand, registerSimilarityCommands } from './similarity.js';
import { registerServeCommand } from './serve.js';

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}.`);
    }
    return n;
  };
}

function floatArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}.`);
    return n;
  };
}

function kArg(v: string): number | 'suggest' {
  if (v === 'suggest') return 'suggest';
  return intArg('--k', 1, 10_000)(v);
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Abort on Ctrl+C (the project stays consistent: each step's files are written atomically); a second Ctrl+C exits at once. */
function abortOnSigint(): AbortController {
  const ac = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\ncancelling… (Ctrl+C again to quit at once)\n');
    ac.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return ac;
}

function printSummary(s: AnalyzeSummary): void {
  const lines: string[] = [];
  lines.push(`project      ${s.project}`);
  lines.push(`images       ${s.images} read from ${s.datasetRoot}${s.newImages && s.newImages !== s.images ? ` (${s.newImages} new or changed)` : ''}`);
  lines.push(`skipped      ${s.skipped.length}${s.skipped.length ? ':' : ''}`);
  for (const sk of s.skipped.slice(0, 20)) lines.push(`  ${sk.path}: ${sk.reason}`);
  if (s.skipped.length > 20) lines.push(`  … and ${s.skipped.length - 20} more (clusterlens info ${s.project} --json lists all)`);
  if (s.duplicates.length) lines.push(`duplicates   ${s.duplicates.length} images have the same content as another (e.g. ${s.duplicates[0].path} = ${s.duplicates[0].duplicateOf})`);
  lines.push(`backend      ${s.backend}`);
  lines.push(`model        ${s.trained ? 'trained' : 'reused'}${s.finalLoss !== undefined ? `, final loss ${s.finalLoss.toPrecision(4)}` : ''}`);
  lines.push(`clusters     k=${s.k}${s.suggestReason ? ` (${s.suggestReason})` : ''}`);
  lines.push(`  sizes      ${s.clusterSizes.join(' ')}`);
  lines.push(`map          ${s.projection.method}${s.projection.note ? ` — ${s.projection.note}` : ''}`);
  const steps = Object.entries(s.timings);
  const total = steps.reduce((a, [, v]) => a + v, 0);
  lines.push(`seconds      ${steps.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' · ') || 'nothing to redo'} · total ${total.toFixed(1)}`);
  lines.push(`peak memory  ${s.peakRssMB} MB`);
  process.stdout.write(lines.join('\n') + '\n');
}

function printInfo(info: ProjectInfo): void {
  const lines = [
    `project      ${info.project}`,
    `dataset      ${info.datasetRoot}`,
    `images       ${info.images} (${info.skipped.length} skipped, ${info.duplicates} duplicates)`,
    `settings     size ${info.settings.size} · ${info.channels === 1 ? 'gray' : 'rgb'} · latent ${info.settings.latent} · preset ${info.settings.preset} · epochs ${info.settings.epochs} · sample ${info.settings.sample} · seed ${info.settings.seed}`,
    `model        ${info.model ? `trained ${info.model.trainedAt} on ${info.model.trainedOn} images, final loss ${info.model.finalLoss.toPrecision(4)}` : 'none'}`,
    `clusters     ${info.clusters ? `k=${info.clusters.k}, sizes ${info.clusters.sizes.join(' ')}` : 'none'}`,
    `map          ${info.projection ? info.projection.method + (info.projection.note ? ` — ${info.projection.note}` : '') : 'none'}`,
    `labels       ${info.labeled} of ${info.images} labeled${info.labels.length ? ': ' + info.labels.map((l) => `${l.label} (${l.count})`).join(', ') : ''}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const program = new Command('clusterlens')
    .description('Turn a folder of unlabeled images into a labeled dataset: autoencoder → t-SNE map → k-means clusters → labels → CSV.')
    .version(pkg.version)
    .configureOutput({ outputError: (str, write) => write(str.split('\n')[0] + '\n') });

  const addRunOptions = (cmd: Command) =>
    cmd
      .option('--k <n|suggest>', 'number of clusters, or "suggest" to pick one by silhouette (default: keep the project\'s k, else suggest)', kArg)
      .option('--seed <n>', `random seed (default ${DEFAULTS.seed})`, intArg('--seed', 0))
      .option('--size <n>', `images are resized to n×n pixels (default ${DEFAULTS.size}; 28 suits MNIST-like sets)`, intArg('--size', 8, 256))
      .option('--latent <n>', `latent code size (default ${DEFAULTS.latent})`, intArg('--latent', 2, 1024))
      .option('--epochs <n>', `training epochs (default ${DEFAULTS.epochs})`, intArg('--epochs', 1, 1000))
      .option('--sample <n>', `train on a random sample of at most n images (default ${DEFAULTS.sample})`, intArg('--sample', 1))
      .addOption(new Option('--color <mode>', 'colour mode (default auto: grayscale when every image is)').choices(['auto', 'rgb', 'gray']))
      .option('--preset <name>', `autoencoder preset from models/presets (default ${DEFAULTS.preset})`)
      .addOption(new Option('--projector <name>', 'map method: bh = Barnes-Hut t-SNE (scales), exact = tsne-js (O(N²), samples above its limit)').choices(['bh', 'exact']))
      .addOption(new Option('--cluster-on <space>', 'what is clustered: map = the 2-D t-SNE map (default; separates classes better), codes = the latent codes').choices(['map', 'codes']))
      .addOption(new Option('--cluster-method <method>', `how (default ${DEFAULTS.clusterMethod} for new projects): auto = merge below 50 clusters, kmeans from 50; merge = k-means into max(50, 3k) small clusters, merged along the 15-nearest-neighbour graph; kmeans = k-means (best of 10 starts on the map); manifold = merge on a t-SNE of the codes with exaggeration 2 (the map itself when it has that exaggeration, else a second t-SNE)`).choices(['auto', 'kmeans', 'merge', 'manifold']))
      .option('--map-exaggeration <x>', `exaggeration of the map's t-SNE for all its iterations (default ${DEFAULTS.mapExaggeration} for new projects: tighter, better separated groups; 1 = classic t-SNE)`, floatArg('--map-exaggeration', 1, 12))
      .addOption(new Option('--map-features <what>', `what the map is made from (default ${DEFAULTS.mapFeatures} for new projects): codes = the autoencoder's codes; codes+hog = the codes and a shape descriptor (histograms of oriented gradients), whose purer neighbourhoods make purer small clusters; auto = codes+hog from ${AUTO_HOG_FROM} clusters, the codes below`).choices(['auto', 'codes', 'codes+hog']))
      .option('--embeddings <file>', 'use precomputed embeddings instead of training: .npy (N×d, rows in project order) or .csv (path,e0,e1,…)')
      .option('--retrain', 'train the autoencoder again even if a model for these settings exists')
      .option('--json', 'print the summary as JSON');

  addRunOptions(
    program
      .command('analyze')
      .description('build or update a project from a folder of images (redoes only what changed)')
      .argument('<folder>', 'folder of images (searched recursively)')
      .requiredOption('--project <dir>', 'project folder to create or update'),
  ).action(async (folder: string, o: RunOpts) => {
    const summary = await runAnalyze(folder, o.project!, o);
    if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else printSummary(summary);
  });

  program
    .command('label')
    .description('label whole clusters (or clear them), import labels from a CSV, or undo/redo the last label edit')
    .argument('<project>', 'project folder')
    .option('--cluster <id>', 'cluster id to label (repeatable, each followed by --as)', collect, [])
    .option('--as <label>', 'label for the preceding --cluster', collect, [])
    .option('--from-csv <file>', 'merge labels from a CSV with path and label columns')
    .option('--clear', 'remove the labels of the given --cluster ids (no --as)')
    .option('--undo', 'undo the last label edit')
    .option('--redo', 'redo the last undone label edit')
    .action(async (dir: string, o: { cluster: string[]; as: string[]; clear?: boolean; fromCsv?: string; undo?: boolean; redo?: boolean }) => {
      const store = await ProjectStore.open(dir);
      if (o.clear) {
        if (!o.cluster.length || o.as.length) throw new UserError('--clear takes one or more --cluster ids and no --as');
        for (const r of await labelClusters(store, o.cluster.map((c) => ({ cluster: intArg('--cluster', 0)(c), label: null })))) {
          process.stdout.write(`cluster ${r.cluster}: labels cleared on ${r.images} images\n`);
        }
        return;
      }
      if (o.cluster.length !== o.as.length) throw new UserError(`each --cluster needs an --as label (got ${o.cluster.length} --cluster and ${o.as.length} --as)`);
      if (!o.cluster.length && !o.fromCsv && !o.undo && !o.redo) throw new UserError('nothing to do: give --cluster N --as LABEL, --from-csv FILE, --undo or --redo');
      const pairs = o.cluster.map((c, i) => ({ cluster: intArg('--cluster', 0)(c), label: o.as[i] }));
      for (const r of await labelClusters(store, pairs)) process.stdout.write(`cluster ${r.cluster} → "${r.label}": ${r.images} images\n`);
      if (o.fromCsv) {
        const r = await importLabels(store, o.fromCsv);
        process.stdout.write(`imported ${r.applied} labels from ${o.fromCsv}${r.unknown.length ? `; ${r.unknown.length} paths not in the project (e.g. ${r.unknown[0]})` : ''}\n`);
        for (const p of r.problems.slice(0, 10)) process.stderr.write(`  ${p}\n`);
      }
      if (o.undo || o.redo) {
        const labels = await store.openLabels();
        try {
          const r = o.undo ? await labels.undo() : await labels.redo();
          process.stdout.write(r ? `${o.undo ? 'undid' : 'redid'}: ${describeEdit(r)}\n` : `nothing to ${o.undo ? 'undo' : 'redo'}\n`);
        } finally {
          await labels.close();
        }
      }
    });

  program
    .command('merge')
    .description('merge clusters into the lowest of their ids (ids stay stable; the others become empty), or undo the last merge')
    .argument('<project>', 'project folder')
    .argument('[clusters...]', 'two or more cluster ids')
    .option('--undo', 'undo the last merge')
    .action(async (dir: string, ids: string[], o: { undo?: boolean }) => {
      const store = await ProjectStore.open(dir);
      if (o.undo) {
        if (ids.length) throw new UserError('--undo takes no cluster ids');
        const r = await unmergeClusters(store);
        process.stdout.write(r ? `undid the merge of clusters ${[r.into, ...r.from].join(', ')} (${r.moved} images moved back)\n` : 'nothing to undo\n');
        return;
      }
      if (ids.length < 2) throw new UserError('give two or more cluster ids to merge, e.g. clusterlens merge <project> 3 7');
      const r = await mergeClusters(store, ids.map((c) => intArg('cluster id', 0)(c)));
      process.stdout.write(`merged clusters ${[r.into, ...r.from].join(', ')} into ${r.into} (${r.moved} images moved; sizes now ${r.sizes.join(' ')})\n`);
    });

  program
    .command('export')
    .description('write the labeled CSV (path,label,label_source,cluster,x,y,reconstruction_error,outlier_score,duplicate_of) and/or the embeddings')
    .argument('<project>', 'project folder')
    .option('--out <file.csv>', 'CSV file to write')
    .option('--embeddings <file.npy>', 'also write the latent codes (float32 N×d .npy, rows in CSV order)')
    .action(async (dir: string, o: { out?: string; embeddings?: string }) => {
      if (!o.out && !o.embeddings) throw new UserError('nothing to do: give --out FILE.csv and/or --embeddings FILE.npy');
      const store = await ProjectStore.open(dir);
      if (o.out) {
        const r = await exportCsv(store, resolve(o.out));
        process.stdout.write(`wrote ${r.rows} rows (${r.labeled} labeled) to ${resolve(o.out)}\n`);
      }
      if (o.embeddings) await exportEmbeddingsCommand(dir, { out: o.embeddings });
    });

  program
    .command('info')
    .description('show what a project holds')
    .argument('<project>', 'project folder')
    .option('--json', 'print JSON')
    .action(async (dir: string, o: { json?: boolean }) => {
      const info = await projectInfo(await ProjectStore.open(dir));
      if (o.json) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      else printInfo(info);
    });

  addRunOptions(
    program
      .command('demo')
      .description('unpack the bundled Fashion-MNIST sample, analyze it and export a CSV')
      .option('--project <dir>', 'project folder', 'clusterlens-demo')
      .option('--out <file.csv>', 'CSV to write (default <project>/labels.csv)')
      .option('--images <n>', 'how many of the bundled images to use (default all 3,000)', intArg('--images', 10)),
  ).action(async (o: RunOpts & { out?: string; images?: number }) => {
    const bars = new ProgressBars();
    const demo = await ensureDemoFolder({ limit: o.images, onProgress: bars.update });
    bars.finishLine();
    process.stderr.write(`demo images: ${demo.n} Fashion-MNIST PNGs in ${demo.imagesDir}\n`);
    const summary = await runAnalyze(demo.imagesDir, o.project!, { ...DEMO_SETTINGS, ...o }, existsSync(DEMO_CHECKPOINT) ? DEMO_CHECKPOINT : undefined);
    if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else printSummary(summary);
    const store = await ProjectStore.open(o.project!);
    const out = resolve(o.out ?? join(store.dir, 'labels.csv'));
    const r = await exportCsv(store, out);
    const info = await projectInfo(store, demo.truth);
    process.stdout.write(`wrote ${r.rows} rows to ${out}\n`);
    if (info.purity !== undefined) process.stdout.write(`cluster purity against the true Fashion-MNIST classes: ${info.purity.toFixed(3)}\n`);
    process.stdout.write(`next: clusterlens label ${o.project} --cluster 0 --as "<name>"  then  clusterlens export ${o.project} --out labels.csv\n`);
  });

  registerSimilarityCommands(program);
  registerServeCommand(program);
  return program;
}

interface RunOpts {
  project?: string;
  k?: number | 'suggest';
  seed?: number;
  size?: number;
  latent?: number;
  epochs?: number;
  sample?: number;
  color?: 'auto' | 'rgb' | 'gray';
  preset?: string;
  projector?: 'bh' | 'exact';
  clusterOn?: 'map' | 'codes';
  clusterMethod?: 'auto' | 'kmeans' | 'merge' | 'manifold';
  mapExaggeration?: number;
  mapFeatures?: 'auto' | 'codes' | 'codes+hog';
  embeddings?: string;
  retrain?: boolean;
  json?: boolean;
}

async function runAnalyze(folder: string, project: string, o: RunOpts, pretrained?: string): Promise<AnalyzeSummary> {
  const bars = new ProgressBars();
  const ac = abortOnSigint();
  const t0 = performance.now();
  try {
    const summary = await analyze(
      { folder, project, k: o.k, seed: o.seed, size: o.size, latent: o.latent, epochs: o.epochs, sample: o.sample, color: o.color, preset: o.preset, projector: o.projector, clusterOn: o.clusterOn, clusterMethod: o.clusterMethod, mapExaggeration: o.mapExaggeration, mapFeatures: o.mapFeatures, retrain: o.retrain, embeddings: o.embeddings, pretrained },
      { onProgress: bars.update, onLog: (l) => { bars.finishLine(); process.stderr.write(l + '\n'); }, signal: ac.signal },
    );
    bars.finishLine();
    process.stderr.write(`analyze: done in ${fmtSeconds((performance.now() - t0) / 1000)}\n`);
    return summary;
  } finally {
    bars.finishLine();
  }
}

function describeEdit(e: EditSummary): string {
  const what =
    e.kind === 'rename' ? `rename "${e.from}" → "${e.label}"` : e.kind === 'delete' ? `delete label "${e.label}"` : e.kind === 'clear' ? 'clear labels' : `label "${e.label}"`;
  return `${what} on ${e.count} image${e.count === 1 ? '' : 's'}${e.note ? ` (${e.note})` : ''}`;
}

/** Entry point: run the CLI and turn user errors into one line without a stack trace. */
export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CancelledError) {
      process.stderr.write('cancelled: the project keeps every step that had finished\n');
      return 130;
    }
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && err.path) {
      process.stderr.write(`error: ${err.code}: ${err.path}\n`);
      return 1;
    }
    if (process.env.CLUSTERLENS_DEBUG) throw e;
    process.stderr.write(`error: ${err?.message ?? String(e)} (set CLUSTERLENS_DEBUG=1 for details)\n`);
    return 2;
  }
}

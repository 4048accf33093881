/**
 * CLI commands for the embedding as a similarity function: similar, outliers, score, export-embeddings.
 * The command bodies are exported functions (output through a `write` callback) so tests can call them directly.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { openProject, type ClusterlensProject, type ScoreResult } from '../core/open-project.js';
import { DEFAULT_METRIC, type Metric } from '../core/neighbors.js';
import { DEFAULT_FENCE } from '../core/outliers.js';
import { scanFolder } from '../core/scan.js';
import { UserError, type ProgressFn } from '../core/types.js';
import { ProgressBars } from './progress.js';

export type Write = (text: string) => void;

const stdout: Write = (t) => process.stdout.write(t);
const stderr: Write = (t) => process.stderr.write(t);

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number from 1.`);
    return n;
  };
}

function nonNegativeNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0.`);
    return n;
  };
}

async function withProject<T>(dir: string, fn: (p: ClusterlensProject) => Promise<T>): Promise<T> {
  const p = await openProject(dir);
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

function fmt(v: number | undefined, digits = 4): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

// ---- similar

export interface SimilarCommandOptions {
  top?: number;
  metric?: Metric;
  json?: boolean;
}

export async function similarCommand(dir: string, image: string, o: SimilarCommandOptions = {}, write: Write = stdout): Promise<void> {
  await withProject(dir, async (p) => {
    const top = o.top ?? 10;
    const metric = o.metric ?? DEFAULT_METRIC;
    // A project path or a file first; a bare whole number that is neither is a row index.
    const isRow = /^\d+$/.test(image) && !p.paths.includes(image) && !existsSync(image);
    const results = await p.similar(isRow ? Number(image) : image, { top, metric });
    if (o.json) {
      write(JSON.stringify({ query: image, metric, results }) + '\n');
      return;
    }
    write(`${results.length} most similar to ${isRow ? `image #${image} (${p.paths[Number(image)]})` : image} (${metric} distance in latent space)\n`);
    for (const r of results) write(`${fmt(r.distance)}  ${r.path}\n`);
  });
}

// ---- outliers

export interface OutliersCommandOptions {
  top?: number;
  c?: number;
  json?: boolean;
  onProgress?: ProgressFn;
}

export async function outliersCommand(dir: string, o: OutliersCommandOptions = {}, write: Write = stdout): Promise<void> {
  await withProject(dir, async (p) => {
    const top = o.top ?? 20;
    const report = await p.outlierReport({ top, c: o.c, onProgress: o.onProgress });
    if (o.json) {
      write(JSON.stringify({ images: p.paths.length, flagged: report.flagged, threshold: report.threshold, k: report.k, c: report.c, exactNeighbours: report.exactNeighbours, results: report.entries }) + '\n');
      return;
    }
    write(
      `${report.flagged} of ${p.paths.length} images are outliers (score > ${fmt(report.threshold, 3)} = Q3 + ${report.c}·IQR; score = mean of the robust z of the reconstruction error and of the mean distance to the ${report.k} nearest neighbours${report.exactNeighbours ? '' : ', found by approximate search'})\n`,
    );
    write(`${'score'.padStart(8)}  ${'knn-dist'.padStart(8)}  ${'recon-err'.padStart(9)}  flag  path\n`);
    for (const e of report.entries) {
      write(`${fmt(e.score, 2).padStart(8)}  ${fmt(e.knnDistance, 3).padStart(8)}  ${fmt(e.reconstructionError, 5).padStart(9)}  ${e.flagged ? ' *  ' : '    '}  ${e.path}\n`);
    }
  });
}

// ---- score

export interface ScoreCommandOptions {
  json?: boolean;
}

/** How many images are embedded per model call. */
const SCORE_BATCH = 256;

function scoreLine(r: ScoreResult, json: boolean | undefined): string {
  if (json) return JSON.stringify({ path: r.input, label: r.label, score: r.score, scores: r.scores, outlier: r.outlier, nearest: r.nearest }) + '\n';
  const per = Object.entries(r.scores)
    .sort((a, b) => b[1] - a[1])
    .map(([l, s]) => `${l}=${s.toFixed(3)}`)
    .join(' ');
  return `${r.input}\t${r.label ?? '-'}\t${r.score.toFixed(3)}\t${r.outlier ? 'outlier' : 'ok'}\t${per}\n`;
}

export async function scoreCommand(dir: string, inputs: string[], o: ScoreCommandOptions = {}, write: Write = stdout, warn: Write = stderr): Promise<void> {
  if (inputs.length === 0) throw new UserError('no image or folder given to score');
  await withProject(dir, async (p) => {
    // Files named on the command line must be images (a bad one is an error); files found in a folder that
    // cannot be decoded are skipped with a line on stderr.
    const items: { path: string; explicit: boolean }[] = [];
    for (const input of inputs) {
      if (existsSync(input) && statSync(input).isDirectory()) {
        const scan = await scanFolder(input);
        for (const s of scan.skipped) warn(`skipped ${join(input, s.path)}: ${s.reason}\n`);
        if (scan.files.length === 0) warn(`no images in ${input}\n`);
        for (const f of scan.files) items.push({ path: join(input, f.path), explicit: false });
      } else {
        items.push({ path: input, explicit: true });
      }
    }
    let header = !o.json;
    for (let b = 0; b < items.length; b += SCORE_BATCH) {
      const batch = items.slice(b, b + SCORE_BATCH);
      let results: ScoreResult[];
      try {
        results = await p.score(batch.map((x) => x.path));
      } catch (e) {
        if (!(e instanceof UserError) || batch.every((x) => x.explicit)) throw e;
        // Find the bad file(s): one at a time.
        results = [];
        for (const x of batch) {
          try {
            results.push(await p.score(x.path));
          } catch (err) {
            if (x.explicit || !(err instanceof UserError)) throw err;
            warn(`skipped ${x.path}: ${err.message}\n`);
          }
        }
      }
      if (header && results.length > 0) write('path\tlabel\tscore\toutlier\tscores\n');
      header &&= results.length === 0;
      for (const r of results) write(scoreLine(r, o.json));
    }
  });
}

// ---- export-embeddings

export async function exportEmbeddingsCommand(dir: string, o: { out: string }, write: Write = stdout): Promise<void> {
  await withProject(dir, async (p) => {
    const r = await p.exportEmbeddings(o.out);
    write(`wrote ${r.rows}×${r.dims} float32 embeddings to ${r.file} (rows in project order, the same as the CSV export)\n`);
  });
}

export function registerSimilarityCommands(program: Command): void {
  program
    .command('similar')
    .description('the most similar project images to an image (a project image path or row number, or any image file)')
    .argument('<project>', 'project folder')
    .argument('<image>', 'image path in the project, row number, or image file')
    .option('--top <n>', 'how many (default 10)', positiveInt('--top'))
    .addOption(new Option('--metric <metric>', `distance in latent space (default ${DEFAULT_METRIC})`).choices(['cosine', 'euclidean']))
    .option('--json', 'print JSON')
    .action((dir: string, image: string, o: SimilarCommandOptions) => similarCommand(dir, image, o));

  program
    .command('outliers')
    .description('the most unusual images: reconstruction error and distance to the nearest neighbours, robustly combined')
    .argument('<project>', 'project folder')
    .option('--top <n>', 'how many to list, most unusual first (default 20)', positiveInt('--top'))
    .option('--c <x>', `flag images above Q3 + c·IQR of the scores (default ${DEFAULT_FENCE})`, nonNegativeNumber('--c'))
    .option('--json', 'print JSON')
    .action(async (dir: string, o: OutliersCommandOptions) => {
      const bars = new ProgressBars();
      try {
        await outliersCommand(dir, { ...o, onProgress: bars.update });
      } finally {
        bars.finishLine();
      }
    });

  program
    .command('score')
    .description('score images against the project\'s labels: best label, score per label in [0, 1], outlier flag')
    .argument('<project>', 'project folder')
    .argument('<images...>', 'image files or folders (searched recursively)')
    .option('--json', 'print one JSON object per image')
    .action((dir: string, images: string[], o: ScoreCommandOptions) => scoreCommand(dir, images, o));

  program
    .command('export-embeddings')
    .description('write the latent codes as float32 N×d .npy (or .csv), rows in project order as in the CSV export')
    .argument('<project>', 'project folder')
    .requiredOption('--out <file.npy>', '.npy file to write (.csv also works: path,e0,e1,…)')
    .action((dir: string, o: { out: string }) => exportEmbeddingsCommand(dir, o));
}

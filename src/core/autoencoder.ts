/**
 * Convolutional autoencoder on tfjs-layers: images (Uint8Array, NHWC, 0–255) → latent codes, plus the per-image
 * reconstruction error. The architecture comes from a preset in models/presets/<name>.json (see PresetSchema).
 *
 * Call `initTf()` (src/core/tf/backend.ts) before using this module. Everything runs on whatever backend it chose;
 * with the same seed on the same backend, create() gives the same weights and train() the same result.
 *
 * Design notes (wasm single-thread is the usual backend, so these were chosen by measuring it):
 *   - stride-2 convolutions instead of pooling (less work; wasm's MaxPoolGrad is also wrong for negative maxima);
 *   - transposed stride-2 convolutions to go back up, no UpSampling2D (the cpu backend's ResizeNearestNeighborGrad
 *     mixes up images when batch > 1);
 *   - a custom training loop (optimizer.minimize) for per-batch progress, cancellation and seeded shuffling.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { tf, type LayersModel, type Scalar, type SymbolicTensor, type Tensor, type Variable } from './tf/backend.js';
import { sampleIndices, shuffleInPlace } from './random.js';
import { type Random, type StepOptions, UserError, throwIfAborted, yieldToEventLoop } from './types.js';

export interface AutoencoderConfig {
  /** Preset name in models/presets (e.g. 'small'), or a path to a preset .json file. */
  preset: string;
  /** Images are size × size. */
  size: number;
  channels: 1 | 3;
  /** Length of the latent code. */
  latent: number;
  /** Seeds the weight initialisers. */
  seed: number;
}

export interface TrainOptions extends StepOptions {
  epochs: number;
  /** Train on at most this many images (a seeded sample drawn with `random`). */
  sample: number;
  /** Default: the preset's batchSize. */
  batchSize?: number;
  random: Random;
}

export interface TrainResult {
  /** Mean training loss (MSE on [0, 1] pixels) of each epoch. */
  losses: number[];
  finalLoss: number;
  imagesPerSecond: number;
  /** Number of distinct images trained on. */
  trainedOn: number;
}

export interface EncodeResult {
  /** n × latent, row-major. */
  codes: Float32Array;
  /** Per-image mean squared reconstruction error on [0, 1] pixels. */
  errors: Float32Array;
}

const posInt = z.number().int().positive();
const ConvSpec = z.object({ filters: posInt, kernel: posInt, strides: posInt.default(1) });

export const PresetSchema = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  encoder: z.object({
    /** 'same'-padded convolutions, each followed by the activation. */
    conv: z.array(ConvSpec).min(1),
    /** Hidden dense layers between the flattened feature map and the linear latent layer. */
    dense: z.array(posInt).default([]),
  }),
  decoder: z.discriminatedUnion('type', [
    z.object({
      /** latent → dense… → dense(base × base × baseFilters) → transposed convs → output transposed conv (sigmoid). */
      type: z.literal('conv'),
      dense: z.array(posInt).default([]),
      baseFilters: posInt,
      conv: z.array(ConvSpec).default([]),
      output: z.object({ kernel: posInt, strides: posInt.default(1) }),
    }),
    z.object({
      /** latent → dense… → dense(size × size × channels, sigmoid). */
      type: z.literal('dense'),
      dense: z.array(posInt).default([]),
    }),
  ]),
  activation: z.enum(['relu', 'elu', 'selu', 'tanh']).default('relu'),
  learningRate: z.number().positive().default(0.002),
  batchSize: posInt.default(64),
  /**
   * Training-time input corruption (the target stays the clean image): `mask` = fraction of pixels set to 0
   * (denoising autoencoder), `shift` = largest random translation in pixels (zero fill), both seeded.
   */
  augment: z.object({ mask: z.number().min(0).max(0.9).default(0), shift: z.number().int().min(0).max(8).default(0) }).optional(),
});
export type Preset = z.infer<typeof PresetSchema>;

/** models/presets, next to src/ and dist/ (this file is src/core/autoencoder.ts or dist/core/autoencoder.js). */
export const PRESETS_DIR = fileURLToPath(new URL('../../models/presets/', import.meta.url));

export async function listPresets(): Promise<string[]> {
  const files = await fs.readdir(PRESETS_DIR).catch(() => [] as string[]);
  return files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

export async function loadPreset(nameOrPath: string): Promise<Preset> {
  const isPath = nameOrPath.endsWith('.json');
  if (!isPath && !/^[A-Za-z0-9_-]+$/.test(nameOrPath)) throw new UserError(`invalid preset name "${nameOrPath}"`);
  const file = isPath ? nameOrPath : path.join(PRESETS_DIR, `${nameOrPath}.json`);
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch {
    const known = await listPresets();
    throw new UserError(`unknown autoencoder preset "${nameOrPath}"${known.length ? ` (available: ${known.join(', ')})` : ''}`);
  }
  const parsed = PresetSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new UserError(`preset ${file} is invalid: ${parsed.error.message}`);
  return parsed.data;
}

function validateConfig(c: AutoencoderConfig): void {
  if (!Number.isInteger(c.size) || c.size < 4 || c.size > 1024) throw new UserError(`image size must be an integer in 4..1024 (got ${c.size})`);
  if (c.channels !== 1 && c.channels !== 3) throw new UserError(`channels must be 1 or 3 (got ${String(c.channels)})`);
  if (!Number.isInteger(c.latent) || c.latent < 1 || c.latent > 4096) throw new UserError(`latent size must be an integer in 1..4096 (got ${c.latent})`);
  if (!Number.isFinite(c.seed)) throw new UserError(`seed must be a number (got ${c.seed})`);
}

const LATENT_LAYER = 'latent';

/** Build the functional model; returns the model and its latent symbolic tensor. */
function buildModel(config: AutoencoderConfig, preset: Preset): { model: LayersModel; latent: SymbolicTensor } {
  const { size: s, channels: c } = config;
  let seedIndex = 0;
  // Each layer gets its own seed derived from config.seed: same seed → same weights.
  const nextSeed = () => ((config.seed >>> 0) * 1009 + 7919 * ++seedIndex) % 2147483647;
  const reluInit = () => tf.initializers.heUniform({ seed: nextSeed() });
  const glorot = () => tf.initializers.glorotUniform({ seed: nextSeed() });
  const act = preset.activation;
  const hiddenInit = () => (act === 'relu' || act === 'elu' ? reluInit() : glorot());

  const input = tf.input({ shape: [s, s, c], name: 'pixels' });
  let h: SymbolicTensor = input;
  for (const l of preset.encoder.conv) {
    h = tf.layers
      .conv2d({ filters: l.filters, kernelSize: l.kernel, strides: l.strides, padding: 'same', activation: act, kernelInitializer: hiddenInit() })
      .apply(h) as SymbolicTensor;
  }
  h = tf.layers.flatten().apply(h) as SymbolicTensor;
  for (const units of preset.encoder.dense) {
    h = tf.layers.dense({ units, activation: act, kernelInitializer: hiddenInit() }).apply(h) as SymbolicTensor;
  }
  const latent = tf.layers.dense({ units: config.latent, kernelInitializer: glorot(), name: LATENT_LAYER }).apply(h) as SymbolicTensor;

  const dec = preset.decoder;
  h = latent;
  for (const units of dec.dense) {
    h = tf.layers.dense({ units, activation: act, kernelInitializer: hiddenInit() }).apply(h) as SymbolicTensor;
  }
  if (dec.type === 'dense') {
    h = tf.layers.dense({ units: s * s * c, activation: 'sigmoid', kernelInitializer: glorot() }).apply(h) as SymbolicTensor;
    h = tf.layers.reshape({ targetShape: [s, s, c] }).apply(h) as SymbolicTensor;
  } else {
    const scale = dec.conv.reduce((p, l) => p * l.strides, dec.output.strides);
    const base = Math.ceil(s / scale);
    h = tf.layers
      .dense({ units: base * base * dec.baseFilters, activation: act, kernelInitializer: hiddenInit() })
      .apply(h) as SymbolicTensor;
    h = tf.layers.reshape({ targetShape: [base, base, dec.baseFilters] }).apply(h) as SymbolicTensor;
    for (const l of dec.conv) {
      h = tf.layers
        .conv2dTranspose({ filters: l.filters, kernelSize: l.kernel, strides: l.strides, padding: 'same', activation: act, kernelInitializer: hiddenInit() })
        .apply(h) as SymbolicTensor;
    }
    h = tf.layers
      .conv2dTranspose({ filters: c, kernelSize: dec.output.kernel, strides: dec.output.strides, padding: 'same', activation: 'sigmoid', kernelInitializer: glorot() })
      .apply(h) as SymbolicTensor;
    const extra = base * scale - s;
    if (extra > 0) {
      const a = Math.floor(extra / 2);
      const b = extra - a;
      h = tf.layers.cropping2D({ cropping: [[a, b], [a, b]] }).apply(h) as SymbolicTensor;
    }
  }
  const model = tf.model({ inputs: input, outputs: h, name: 'clusterlens_autoencoder' });
  return { model, latent };
}

/** Copy images `order[from..to)` (or `from..to` when order is null) into `out` as floats in [0, 1]. */
function fillBatch(pixels: Uint8Array, per: number, order: ArrayLike<number> | null, from: number, to: number, out: Float32Array): Float32Array {
  const scale = 1 / 255;
  for (let k = from; k < to; k++) {
    const src = (order ? order[k] : k) * per;
    const dst = (k - from) * per;
    for (let j = 0; j < per; j++) out[dst + j] = pixels[src + j] * scale;
  }
  return out.subarray(0, (to - from) * per);
}

/**
 * Corrupts a batch of [0, 1] images in place of a copy: a random translation by up to `shift` pixels (zero fill),
 * then every pixel zeroed with probability `mask`. `clean` and `out` hold `count` images of size×size×channels.
 */
export function corruptBatch(clean: Float32Array, out: Float32Array, count: number, size: number, channels: number, aug: { mask: number; shift: number }, random: Random): Float32Array {
  const per = size * size * channels;
  const row = size * channels;
  for (let b = 0; b < count; b++) {
    const o = b * per;
    const dx = aug.shift > 0 ? Math.floor(random() * (2 * aug.shift + 1)) - aug.shift : 0;
    const dy = aug.shift > 0 ? Math.floor(random() * (2 * aug.shift + 1)) - aug.shift : 0;
    for (let y = 0; y < size; y++) {
      const sy = y - dy;
      for (let x = 0; x < size; x++) {
        const sx = x - dx;
        const inside = sy >= 0 && sy < size && sx >= 0 && sx < size;
        for (let c = 0; c < channels; c++) out[o + y * row + x * channels + c] = inside ? clean[o + sy * row + sx * channels + c] : 0;
      }
    }
    if (aug.mask > 0) for (let j = 0; j < per; j++) if (random() < aug.mask) out[o + j] = 0;
  }
  return out.subarray(0, count * per);
}

const SAVE_FORMAT = 'clusterlens-autoencoder';
const CONFIG_FILE = 'clusterlens.json';
const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';

interface SavedConfig {
  format: typeof SAVE_FORMAT;
  version: 1;
  config: AutoencoderConfig;
  preset: Preset;
}

export class Autoencoder {
  /** The model whose outputs are [latent, reconstruction] (shares layers with `model`). */
  private readonly both: LayersModel;
  private disposed = false;

  private constructor(
    readonly config: AutoencoderConfig,
    readonly preset: Preset,
    private readonly model: LayersModel,
  ) {
    const latent = model.getLayer(LATENT_LAYER).output as SymbolicTensor;
    this.both = tf.model({ inputs: model.inputs, outputs: [latent, model.outputs[0]] });
  }

  static async create(config: AutoencoderConfig): Promise<Autoencoder> {
    validateConfig(config);
    const preset = await loadPreset(config.preset);
    const { model } = buildModel(config, preset);
    return new Autoencoder({ ...config }, preset, model);
  }

  /** Number of trainable parameters. */
  get parameters(): number {
    return this.model.countParams();
  }

  private get pixelsPerImage(): number {
    return this.config.size * this.config.size * this.config.channels;
  }

  private checkPixels(pixels: Uint8Array, n: number): void {
    if (this.disposed) throw new Error('Autoencoder has been disposed');
    if (!Number.isInteger(n) || n < 0) throw new UserError(`image count must be a non-negative integer (got ${n})`);
    const want = n * this.pixelsPerImage;
    if (pixels.length !== want) {
      const { size, channels } = this.config;
      throw new UserError(`expected ${n} images of ${size}×${size}×${channels} = ${want} bytes, got ${pixels.length}`);
    }
  }

  async train(pixels: Uint8Array, n: number, opts: TrainOptions): Promise<TrainResult> {
    this.checkPixels(pixels, n);
    const { epochs, onProgress, signal, random } = opts;
    if (!Number.isInteger(epochs) || epochs < 1) throw new UserError(`epochs must be a positive integer (got ${epochs})`);
    if (n === 0) throw new UserError('no images to train on');
    const batchSize = Math.max(1, Math.floor(opts.batchSize ?? this.preset.batchSize));
    const order = sampleIndices(n, Math.max(1, Math.floor(opts.sample)), random);
    const m = order.length;
    const per = this.pixelsPerImage;
    const { size, channels } = this.config;
    const batchesPerEpoch = Math.ceil(m / batchSize);
    const total = epochs * batchesPerEpoch;
    const buffer = new Float32Array(Math.min(batchSize, m) * per);
    const aug = this.preset.augment && (this.preset.augment.mask > 0 || this.preset.augment.shift > 0) ? this.preset.augment : undefined;
    const noisy = aug ? new Float32Array(buffer.length) : undefined;
    const varList = this.model.trainableWeights.map((w) => w.read() as Variable);
    const optimizer = tf.train.adam(this.preset.learningRate);
    const losses: number[] = [];
    let done = 0;
    let busyMs = 0;
    throwIfAborted(signal);
    try {
      for (let e = 0; e < epochs; e++) {
        shuffleInPlace(order, random);
        let sum = 0;
        for (let b = 0; b < batchesPerEpoch; b++) {
          await yieldToEventLoop();
          throwIfAborted(signal);
          const from = b * batchSize;
          const to = Math.min(m, from + batchSize);
          const t0 = performance.now();
          const data = fillBatch(pixels, per, order, from, to, buffer);
          const input = aug ? corruptBatch(data, noisy!, to - from, size, channels, aug, random) : data;
          const cost = tf.tidy(() => {
            const x = tf.tensor4d(data, [to - from, size, size, channels]);
            const xin = aug ? tf.tensor4d(input, [to - from, size, size, channels]) : x;
            const f = () => tf.losses.meanSquaredError(x, this.model.apply(xin, { training: true }) as Tensor) as Scalar;
            return optimizer.minimize(f, true, varList) as Scalar;
          });
          const loss = (await cost.data())[0];
          cost.dispose();
          busyMs += performance.now() - t0;
          if (!Number.isFinite(loss)) throw new Error(`training diverged (loss ${loss}) in epoch ${e + 1}; try a lower learningRate in the preset`);
          sum += loss * (to - from);
          done++;
          onProgress?.({ step: 'train', done, total, loss, message: `epoch ${e + 1}/${epochs}` });
        }
        losses.push(sum / m);
      }
    } finally {
      optimizer.dispose();
    }
    return {
      losses,
      finalLoss: losses[losses.length - 1],
      imagesPerSecond: busyMs > 0 ? (epochs * m) / (busyMs / 1000) : 0,
      trainedOn: m,
    };
  }

  async encode(pixels: Uint8Array, n: number, opts: StepOptions & { batchSize?: number } = {}): Promise<EncodeResult> {
    this.checkPixels(pixels, n);
    const { onProgress, signal } = opts;
    const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 256));
    const latent = this.config.latent;
    const per = this.pixelsPerImage;
    const { size, channels } = this.config;
    const codes = new Float32Array(n * latent);
    const errors = new Float32Array(n);
    const buffer = new Float32Array(Math.min(batchSize, Math.max(1, n)) * per);
    const total = Math.ceil(n / batchSize);
    throwIfAborted(signal);
    for (let b = 0, from = 0; from < n; b++, from += batchSize) {
      if (b > 0) await yieldToEventLoop();
      throwIfAborted(signal);
      const to = Math.min(n, from + batchSize);
      const data = fillBatch(pixels, per, null, from, to, buffer);
      const [z, err] = tf.tidy(() => {
        const x = tf.tensor4d(data, [to - from, size, size, channels]);
        const [zz, r] = this.both.apply(x, { training: false }) as Tensor[];
        return [zz, tf.mean(tf.squaredDifference(r, x), [1, 2, 3])];
      });
      try {
        codes.set(await z.data(), from * latent);
        errors.set(await err.data(), from);
      } finally {
        tf.dispose([z, err]);
      }
      onProgress?.({ step: 'encode', done: b + 1, total });
    }
    return { codes, errors };
  }

  /** Reconstructions as pixels (same layout as the input). */
  async reconstruct(pixels: Uint8Array, n: number, opts: StepOptions & { batchSize?: number } = {}): Promise<Uint8Array> {
    this.checkPixels(pixels, n);
    const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 256));
    const per = this.pixelsPerImage;
    const { size, channels } = this.config;
    const out = new Uint8Array(n * per);
    for (let from = 0; from < n; from += batchSize) {
      throwIfAborted(opts.signal);
      const to = Math.min(n, from + batchSize);
      const r = tf.tidy(() => {
        const x = tf.div(tf.tensor4d(pixels.subarray(from * per, to * per), [to - from, size, size, channels], 'int32'), 255);
        const y = this.model.apply(x, { training: false }) as Tensor;
        return tf.cast(tf.round(tf.mul(tf.clipByValue(y, 0, 1), 255)), 'int32');
      });
      try {
        out.set(await r.data(), from * per);
      } finally {
        r.dispose();
      }
      if (to < n) await yieldToEventLoop();
    }
    return out;
  }

  /**
   * Save to `dir` in the tfjs layers format (model.json + weights.bin, loadable by tf.loadLayersModel) plus
   * clusterlens.json (config and preset). Needs no tfjs-node.
   */
  async save(dir: string): Promise<void> {
    if (this.disposed) throw new Error('Autoencoder has been disposed');
    await fs.mkdir(dir, { recursive: true });
    await this.model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
        const modelJson = {
          modelTopology: artifacts.modelTopology,
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: artifacts.convertedBy ?? null,
          weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
        };
        await fs.writeFile(path.join(dir, WEIGHTS_FILE), new Uint8Array(weightData));
        await fs.writeFile(path.join(dir, MODEL_FILE), JSON.stringify(modelJson));
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
    const saved: SavedConfig = { format: SAVE_FORMAT, version: 1, config: this.config, preset: this.preset };
    await fs.writeFile(path.join(dir, CONFIG_FILE), JSON.stringify(saved, null, 2) + '\n');
  }

  static async load(dir: string): Promise<Autoencoder> {
    let saved: SavedConfig;
    try {
      saved = JSON.parse(await fs.readFile(path.join(dir, CONFIG_FILE), 'utf8')) as SavedConfig;
    } catch (e) {
      throw new UserError(`no saved autoencoder in ${dir} (${(e as Error).message})`);
    }
    if (saved.format !== SAVE_FORMAT) throw new UserError(`${path.join(dir, CONFIG_FILE)} is not a Clusterlens autoencoder`);
    validateConfig(saved.config);
    const preset = PresetSchema.parse(saved.preset);
    const modelJson = JSON.parse(await fs.readFile(path.join(dir, MODEL_FILE), 'utf8')) as {
      modelTopology: object;
      weightsManifest: { paths: string[]; weights: Parameters<typeof tf.io.fromMemory>[1] & object }[];
    };
    const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
    const buffers: Uint8Array[] = [];
    for (const group of modelJson.weightsManifest) {
      for (const p of group.paths) buffers.push(await fs.readFile(path.join(dir, p)));
    }
    const joined = new Uint8Array(buffers.reduce((a, b) => a + b.length, 0));
    let off = 0;
    for (const b of buffers) {
      joined.set(b, off);
      off += b.length;
    }
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData: joined.buffer }),
    );
    return new Autoencoder({ ...saved.config }, preset, model);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

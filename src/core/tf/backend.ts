/**
 * TensorFlow.js backend selection. This is the only module that imports tfjs: everything else uses the `tf`
 * accessor exported here (tfjs-core + tfjs-layers in one namespace) after `await initTf()`.
 *
 * Order for 'auto': tfjs-node (native libtensorflow, optional dependency) → wasm (SIMD; one thread in Node) →
 * cpu (plain JS, very slow for convolutions; the detail string says so). CLUSTERLENS_BACKEND=node|wasm|cpu forces one.
 *
 * The wasm backend has no Conv2DBackpropFilter kernel (weight gradient of convolutions), so training a conv net
 * fails there out of the box; we register our own built from kernels wasm does have (see conv2d-backprop-filter-wasm.ts).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { registerWasmTrainingKernels } from './conv2d-backprop-filter-wasm.js';

export type BackendPreference = 'auto' | 'node' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** Human-readable, e.g. "tfjs-node (libtensorflow)" or "wasm (SIMD, 1 thread) with Clusterlens Conv2DBackpropFilter/Input kernels". */
  detail: string;
}

/** tfjs-core and tfjs-layers in one namespace: `tf.tensor(...)`, `tf.layers.conv2d(...)`, `tf.sequential()`... */
export type Tf = Omit<typeof tfc, 'default'> & Omit<typeof tfl, 'default'>;
export const tf: Tf = makeTf();

function makeTf(): Tf {
  const merged: Record<string, unknown> = { ...tfc, ...tfl };
  // The CommonJS builds of tfjs appear with a `default` export under ESM; it is not part of the API.
  delete merged.default;
  return Object.freeze(merged) as unknown as Tf;
}

let current: Promise<BackendInfo> | undefined;

const PREFERENCES: readonly BackendPreference[] = ['auto', 'node', 'wasm', 'cpu'];

function preferenceFromEnv(): BackendPreference | undefined {
  const raw = process.env.CLUSTERLENS_BACKEND?.trim().toLowerCase();
  if (!raw) return undefined;
  const alias = raw === 'tensorflow' || raw === 'tfjs-node' ? 'node' : raw;
  if (!(PREFERENCES as readonly string[]).includes(alias)) {
    throw new Error(`CLUSTERLENS_BACKEND must be one of ${PREFERENCES.join(', ')} (got "${raw}")`);
  }
  return alias as BackendPreference;
}

async function tryNode(): Promise<BackendInfo | string> {
  try {
    // Optional dependency: absent on most installs (it downloads libtensorflow). The specifier is a variable so
    // TypeScript does not need its types.
    const spec = '@tensorflow/tfjs-node';
    await import(spec);
    if (!(await tfc.setBackend('tensorflow'))) return 'tfjs-node loaded but its backend did not initialise';
    await tfc.ready();
    return { name: 'tensorflow', detail: 'tfjs-node (libtensorflow)' };
  } catch (e) {
    return `tfjs-node unavailable (${firstLine(e)})`;
  }
}

async function tryWasm(): Promise<BackendInfo | string> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries ship in the package's dist folder: load them from disk so this works offline.
    const require = createRequire(import.meta.url);
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
    wasm.setWasmPaths(dist + path.sep);
    registerWasmTrainingKernels();
    if (!(await tfc.setBackend('wasm'))) return 'wasm backend did not initialise';
    await tfc.ready();
    const simd = await tfc.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = wasm.getThreadsCount();
    const what = `${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}`;
    return { name: 'wasm', detail: `wasm (${what}) with Clusterlens Conv2DBackpropFilter/Input kernels` };
  } catch (e) {
    return `wasm unavailable (${firstLine(e)})`;
  }
}

async function useCpu(reasons: string[]): Promise<BackendInfo> {
  await tfc.setBackend('cpu');
  await tfc.ready();
  const why = reasons.length ? `; ${reasons.join('; ')}` : '';
  return { name: 'cpu', detail: `cpu (plain JavaScript: WARNING, training is very slow${why})` };
}

async function select(prefer: BackendPreference): Promise<BackendInfo> {
  const reasons: string[] = [];
  const attempt = async (f: () => Promise<BackendInfo | string>): Promise<BackendInfo | undefined> => {
    const r = await f();
    if (typeof r === 'string') {
      reasons.push(r);
      return undefined;
    }
    return r;
  };
  if (prefer === 'cpu') return useCpu([]);
  if (prefer === 'node') {
    const r = await attempt(tryNode);
    if (r) return r;
    throw new Error(`backend "node" requested but ${reasons.join('; ')}`);
  }
  if (prefer === 'wasm') {
    const r = await attempt(tryWasm);
    if (r) return r;
    throw new Error(`backend "wasm" requested but ${reasons.join('; ')}`);
  }
  return (await attempt(tryNode)) ?? (await attempt(tryWasm)) ?? useCpu(reasons);
}

/**
 * Choose and initialise the tfjs backend. Idempotent: later calls return the first call's result whatever they ask
 * for. CLUSTERLENS_BACKEND (auto|node|wasm|cpu) overrides `prefer`.
 */
export function initTf(prefer: BackendPreference = 'auto'): Promise<BackendInfo> {
  if (!current) {
    const chosen = preferenceFromEnv() ?? prefer;
    current = select(chosen).catch((e: unknown) => {
      current = undefined;
      throw e;
    });
  }
  return current;
}

/** The backend chosen by initTf, or undefined before it has finished. */
export async function backendInfo(): Promise<BackendInfo | undefined> {
  return current ? current.catch(() => undefined) : undefined;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 200);
}

export type { Tensor, Tensor4D, Scalar, Variable } from '@tensorflow/tfjs-core';
export type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';

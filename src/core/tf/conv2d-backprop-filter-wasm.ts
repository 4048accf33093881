/**
 * Conv2DBackpropFilter (the weight gradient of conv2d) for the tfjs wasm backend, which does not ship one.
 *
 * Built only from kernels the wasm backend has, called directly on the backend (no engine round trip, no tape):
 *   (Slice) → PadV2 → Transpose x to [C, H, W, N] and dy to [outH, outW, N, Cout] → Conv2D with dilation = strides
 *   → Transpose to [fh, fw, Cin, Cout].
 *
 *   dW[i, j, c, o] = Σ_{n, y, x} xPadded[n, y·sh + i, x·sw + j, c] · dy[n, y, x, o]
 *
 * The weight gradient is itself a convolution, so it runs on wasm's XNNPACK Conv2D. An im2col version (StridedSlice
 * per filter tap → Concat → BatchMatMul) was 25-30x slower: wasm's strided slice and transposed matMul are naive.
 *
 * Supports NHWC and NCHW (transposed to NHWC), any strides, 'same' / 'valid' / numeric / explicit padding and
 * dimRoundingMode. Dilation is not an attribute of this kernel: tfjs-core refuses gradients of dilated conv2d before
 * they get here.
 */
import {
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
  type BatchMatMulAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

const BACKEND = 'wasm';

function run(backend: KernelBackend, name: string, inputs: TensorInfo[] | Record<string, TensorInfo>, attrs: object): TensorInfo {
  const kernel = getKernel(name, BACKEND);
  if (!kernel) throw new Error(`Clusterlens Conv2DBackpropFilter: the wasm backend has no ${name} kernel`);
  const out = kernel.kernelFunc({
    inputs: inputs as Record<string, TensorInfo>,
    backend,
    attrs: attrs as unknown as NamedAttrMap,
  });
  return Array.isArray(out) ? out[0] : out;
}

function conv2DBackpropFilterWasm(args: {
  inputs: Record<string, TensorInfo>;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const { x, dy } = inputs;
  if (!x || !dy) throw new Error('Clusterlens Conv2DBackpropFilter: inputs x and dy are required');
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (x.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(`Clusterlens Conv2DBackpropFilter: x and dy must be rank 4 (got ${x.shape.length} and ${dy.shape.length})`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Clusterlens Conv2DBackpropFilter: only float32 is supported (got ${x.dtype}, ${dy.dtype})`);
  }
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'NCHW') {
    throw new Error(`Clusterlens Conv2DBackpropFilter: unsupported dataFormat ${String(dataFormat)}`);
  }

  const temps: TensorInfo[] = [];
  const keep = (t: TensorInfo): TensorInfo => {
    temps.push(t);
    return t;
  };
  try {
    // Work in NHWC.
    let xh = x;
    let dyh = dy;
    if (dataFormat === 'NCHW') {
      xh = keep(run(backend, 'Transpose', { x }, { perm: [0, 2, 3, 1] }));
      dyh = keep(run(backend, 'Transpose', { x: dy }, { perm: [0, 2, 3, 1] }));
    }
    const info = backend_util.computeConv2DInfo(
      xh.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const { batchSize: n, inHeight, inWidth, inChannels: cin, outHeight, outWidth, outChannels: cout } = info;
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, padInfo } = info;
    if (dyh.shape[0] !== n || dyh.shape[1] !== outHeight || dyh.shape[2] !== outWidth || dyh.shape[3] !== cout) {
      throw new Error(
        `Clusterlens Conv2DBackpropFilter: dy shape [${dyh.shape.join(',')}] does not match the expected [${n},${outHeight},${outWidth},${cout}]`,
      );
    }
    if (filterShape[2] !== cin) {
      throw new Error(`Clusterlens Conv2DBackpropFilter: filter has ${filterShape[2]} input channels, x has ${cin}`);
    }
    // The rows/columns of the padded input that some output position reads: [-top, needH - top) × [-left, needW - left).
    const top = Math.max(0, padInfo.top);
    const left = Math.max(0, padInfo.left);
    const needH = (outHeight - 1) * sh + fh;
    const needW = (outWidth - 1) * sw + fw;
    // Crop rows/columns that no output reads ('valid' with a remainder), then zero-pad to exactly needH × needW.
    const keepH = Math.min(inHeight, needH - top);
    const keepW = Math.min(inWidth, needW - left);
    let xc = xh;
    if (keepH < inHeight || keepW < inWidth) {
      xc = keep(run(backend, 'Slice', { x: xh }, { begin: [0, 0, 0, 0], size: [n, keepH, keepW, cin] }));
    }
    const bottom = needH - top - keepH;
    const right = needW - left - keepW;
    const xp =
      top || bottom || left || right
        ? keep(run(backend, 'PadV2', { x: xc }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 }))
        : xc;
    // dW[i, j, c, o] = Σ_{n, y, x} xp[n, y·sh + i, x·sw + j, c] · dy[n, y, x, o]
    // is a stride-1 'valid' convolution with dilation (sh, sw) of "images" xp[c] (channels n) by the "filter" dy
    // (taps y, x; in n; out o): conv2d([C, Hp, Wp, N], [outH, outW, N, Cout]) = [C, fh, fw, Cout].
    const xT = keep(run(backend, 'Transpose', { x: xp }, { perm: [3, 1, 2, 0] }));
    const dyT = keep(run(backend, 'Transpose', { x: dyh }, { perm: [1, 2, 0, 3] }));
    const out = keep(
      run(backend, 'Conv2D', { x: xT, filter: dyT }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [sh, sw] }),
    );
    if (out.shape[1] !== fh || out.shape[2] !== fw) {
      throw new Error(`Clusterlens Conv2DBackpropFilter: internal shape error (got [${out.shape.join(',')}])`);
    }
    return run(backend, 'Transpose', { x: out }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: BACKEND,
  kernelFunc: conv2DBackpropFilterWasm as KernelConfig['kernelFunc'],
};

/** wasm's own Conv2DBackpropInput (a plain loop, no XNNPACK), kept for the cases the fast version does not cover. */
let originalBackpropInput: KernelConfig | undefined;

/**
 * Conv2DBackpropInput (input gradient of conv2d, and the forward pass of conv2dTranspose) for wasm, as one XNNPACK
 * Conv2D: insert (stride − 1) zeros between the rows/columns of dy, pad by (filter − 1 − pad), and convolve ('valid',
 * stride 1) with the filter flipped in space and with in/out channels swapped. wasm's own kernel is a plain loop and
 * was the slowest kernel of a training step (about 10x slower than this). NCHW or padding larger than the filter
 * falls back to wasm's own kernel.
 */
function conv2DBackpropInputWasm(args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs?: NamedAttrMap }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const { dy, filter } = inputs;
  const fallback = () => {
    if (!originalBackpropInput) throw new Error('Clusterlens Conv2DBackpropInput: wasm kernel missing');
    const out = originalBackpropInput.kernelFunc(args as Parameters<KernelConfig['kernelFunc']>[0]);
    return Array.isArray(out) ? out[0] : out;
  };
  if (!dy || !filter || dy.dtype !== 'float32' || filter.dtype !== 'float32' || attrs.dataFormat === 'NCHW') return fallback();
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: n, inHeight, inWidth, inChannels: cin, outHeight, outWidth, outChannels: cout } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const topPad = fh - 1 - padInfo.top;
  const leftPad = fw - 1 - padInfo.left;
  if (topPad < 0 || leftPad < 0 || dy.shape[1] !== outHeight || dy.shape[2] !== outWidth || dy.shape[3] !== cout) return fallback();

  const temps: TensorInfo[] = [];
  const keep = (t: TensorInfo): TensorInfo => {
    temps.push(t);
    return t;
  };
  try {
    // Zero insertion, one axis at a time with rank-4 pads: [.., k, 1, ..] → pad → [.., k, s, ..] → merge.
    let dyd = dy;
    if (sw > 1) {
      const r = keep(run(backend, 'Reshape', { x: dyd }, { shape: [n * outHeight, outWidth, 1, cout] }));
      const p = keep(run(backend, 'PadV2', { x: r }, { paddings: [[0, 0], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 }));
      dyd = keep(run(backend, 'Reshape', { x: p }, { shape: [n, outHeight, outWidth * sw, cout] }));
    }
    if (sh > 1) {
      const r = keep(run(backend, 'Reshape', { x: dyd }, { shape: [n, outHeight, 1, outWidth * sw * cout] }));
      const p = keep(run(backend, 'PadV2', { x: r }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0]], constantValue: 0 }));
      dyd = keep(run(backend, 'Reshape', { x: p }, { shape: [n, outHeight * sh, outWidth * sw, cout] }));
    }
    // Pad to (inH + fh − 1) × (inW + fw − 1) so that the 'valid' convolution gives inH × inW; crop trailing rows or
    // columns (zeros, or positions outside the input) when there are too many.
    const wantH = inHeight + fh - 1 - topPad;
    const wantW = inWidth + fw - 1 - leftPad;
    const haveH = outHeight * sh;
    const haveW = outWidth * sw;
    if (haveH > wantH || haveW > wantW) {
      dyd = keep(run(backend, 'Slice', { x: dyd }, { begin: [0, 0, 0, 0], size: [n, Math.min(haveH, wantH), Math.min(haveW, wantW), cout] }));
    }
    const bottom = wantH - Math.min(haveH, wantH);
    const right = wantW - Math.min(haveW, wantW);
    const padded =
      topPad || leftPad || bottom || right
        ? keep(run(backend, 'PadV2', { x: dyd }, { paddings: [[0, 0], [topPad, bottom], [leftPad, right], [0, 0]], constantValue: 0 }))
        : dyd;
    const flipped = keep(run(backend, 'Reverse', { x: filter }, { dims: [0, 1] }));
    const swapped = keep(run(backend, 'Transpose', { x: flipped }, { perm: [0, 1, 3, 2] }));
    const dx = run(backend, 'Conv2D', { x: padded, filter: swapped }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] });
    if (dx.shape[1] !== inHeight || dx.shape[2] !== inWidth || dx.shape[3] !== cin) {
      backend.disposeData(dx.dataId);
      throw new Error(`Clusterlens Conv2DBackpropInput: internal shape error (got [${dx.shape.join(',')}])`);
    }
    return dx;
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

export const conv2DBackpropInputWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: BACKEND,
  kernelFunc: conv2DBackpropInputWasm as KernelConfig['kernelFunc'],
  // The fallback needs wasm's own setup (binding its C function) when the backend initialises.
  setupFunc: (backend) => originalBackpropInput?.setupFunc?.(backend),
};

/** wasm's own BatchMatMul, wrapped below. */
let originalBatchMatMul: KernelConfig | undefined;

/**
 * BatchMatMul for wasm: wasm's kernel is fast for plain products but about 5-10x slower when transposeA/transposeB
 * is set (which every dense-layer gradient uses), so transpose the operand explicitly first (one fast Transpose).
 */
function batchMatMulWasm(args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs?: NamedAttrMap }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as unknown as BatchMatMulAttrs;
  if (!originalBatchMatMul) throw new Error('Clusterlens BatchMatMul: wasm kernel missing');
  const original = originalBatchMatMul;
  const call = (a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo => {
    const out = original.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA, transposeB } });
    return Array.isArray(out) ? out[0] : out;
  };
  const { a, b } = inputs;
  if ((!attrs.transposeA && !attrs.transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return call(a, b, attrs.transposeA, attrs.transposeB);
  }
  const temps: TensorInfo[] = [];
  const swapLast = (t: TensorInfo): TensorInfo => {
    const r = t.shape.length;
    const perm = t.shape.map((_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
    const out = run(backend, 'Transpose', { x: t }, { perm });
    temps.push(out);
    return out;
  };
  try {
    return call(attrs.transposeA ? swapLast(a) : a, attrs.transposeB ? swapLast(b) : b, false, false);
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

export const batchMatMulWasmConfig: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: BACKEND,
  kernelFunc: batchMatMulWasm as KernelConfig['kernelFunc'],
  setupFunc: (backend) => originalBatchMatMul?.setupFunc?.(backend),
};

/** Replace wasm's kernel `name` by `config`, keeping the original for delegation. Returns the original. */
function wrap(name: string, config: KernelConfig): KernelConfig | undefined {
  const current = getKernel(name, BACKEND);
  if (!current || current.kernelFunc === config.kernelFunc) return undefined;
  unregisterKernel(name, BACKEND);
  registerKernel(config);
  return current;
}

/**
 * Register the kernels the wasm backend lacks (Conv2DBackpropFilter) or has only in a slow form (Conv2DBackpropInput,
 * transposed BatchMatMul) for training the autoencoder. Idempotent. Call after importing @tensorflow/tfjs-backend-wasm
 * (which registers its own kernels on import) and before the first gradient on wasm.
 */
export function registerWasmTrainingKernels(): void {
  if (!getKernel('Conv2DBackpropFilter', BACKEND)) registerKernel(conv2DBackpropFilterWasmConfig);
  originalBackpropInput = wrap('Conv2DBackpropInput', conv2DBackpropInputWasmConfig) ?? originalBackpropInput;
  originalBatchMatMul = wrap('BatchMatMul', batchMatMulWasmConfig) ?? originalBatchMatMul;
}

/** wasm's own Conv2DBackpropInput kernel (for tests and comparisons), once registerWasmTrainingKernels has run. */
export function originalWasmConv2DBackpropInput(): KernelConfig | undefined {
  return originalBackpropInput;
}

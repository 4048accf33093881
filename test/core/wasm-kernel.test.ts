import { beforeAll, describe, expect, it } from 'vitest';
import { initTf, tf } from '../../src/core/tf/backend.js';
import { seededRandom, gaussian } from '../../src/core/random.js';
import {
  batchMatMulWasmConfig,
  conv2DBackpropFilterWasmConfig,
  conv2DBackpropInputWasmConfig,
  originalWasmConv2DBackpropInput,
} from '../../src/core/tf/conv2d-backprop-filter-wasm.js';

type Attrs = Parameters<ReturnType<typeof tf.engine>['runKernel']>[2];

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  fh: number;
  fw: number;
  stride: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function randomData(size: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = gaussian(r);
  return a;
}

/** Run one kernel on one backend with fresh tensors; returns the output values. */
async function runOn(backend: string, run: () => InstanceType<typeof tf.Tensor>): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const out = tf.tidy(run);
  const values = (await out.data()) as Float32Array;
  const shape = out.shape;
  out.dispose();
  return { values, shape };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe('Clusterlens conv gradient kernels on wasm', () => {
  beforeAll(async () => {
    const info = await initTf('wasm');
    expect(info.name).toBe('wasm');
  });

  it('registers the Clusterlens kernels on wasm', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc).toBe(conv2DBackpropFilterWasmConfig.kernelFunc);
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).toBe(conv2DBackpropInputWasmConfig.kernelFunc);
  });

  const cases: Case[] = [
    { n: 2, h: 8, w: 8, cin: 1, cout: 4, fh: 3, fw: 3, stride: 1, pad: 'same' },
    { n: 3, h: 9, w: 9, cin: 3, cout: 5, fh: 3, fw: 3, stride: 2, pad: 'same' },
    { n: 2, h: 10, w: 7, cin: 3, cout: 2, fh: 3, fw: 2, stride: 2, pad: 'valid' },
    { n: 4, h: 7, w: 7, cin: 1, cout: 3, fh: 5, fw: 5, stride: 1, pad: 'valid' },
    { n: 2, h: 8, w: 8, cin: 2, cout: 3, fh: 4, fw: 4, stride: 2, pad: 'same' },
    { n: 2, h: 6, w: 9, cin: 3, cout: 4, fh: 1, fw: 1, stride: 1, pad: 'valid' },
    { n: 2, h: 9, w: 8, cin: 2, cout: 3, fh: 3, fw: 3, stride: [2, 1], pad: 1, dimRoundingMode: 'floor' },
    { n: 2, h: 8, w: 8, cin: 3, cout: 2, fh: 3, fw: 3, stride: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    { n: 2, h: 8, w: 8, cin: 1, cout: 2, fh: 3, fw: 3, stride: 2, pad: 0, dimRoundingMode: 'ceil' },
  ];

  for (const c of cases) {
    const label = `n${c.n} ${c.h}x${c.w}x${c.cin}→${c.cout} k${c.fh}x${c.fw} s${String(c.stride)} pad ${JSON.stringify(c.pad)}${c.dimRoundingMode ? ' ' + c.dimRoundingMode : ''}`;
    for (const kernelName of ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const) {
      it(`${kernelName} matches the cpu kernel: ${label}`, async () => {
        const strides: [number, number] = typeof c.stride === 'number' ? [c.stride, c.stride] : c.stride;
        const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.cin];
        const wShape: [number, number, number, number] = [c.fh, c.fw, c.cin, c.cout];
        const info = tf.backend_util.computeConv2DInfo(xShape, wShape, strides, 1, c.pad, c.dimRoundingMode);
        const dyShape: [number, number, number, number] = [c.n, info.outHeight, info.outWidth, c.cout];
        const xData = randomData(c.n * c.h * c.w * c.cin, 11);
        const wData = randomData(c.fh * c.fw * c.cin * c.cout, 13);
        const dyData = randomData(dyShape.reduce((a, b) => a * b, 1), 12);
        const common = { strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode };
        const kernel = () =>
          (kernelName === 'Conv2DBackpropFilter'
            ? tf.engine().runKernel(
                kernelName,
                { x: tf.tensor4d(xData, xShape), dy: tf.tensor4d(dyData, dyShape) },
                { ...common, filterShape: wShape } as unknown as Attrs,
              )
            : tf.engine().runKernel(
                kernelName,
                { dy: tf.tensor4d(dyData, dyShape), filter: tf.tensor4d(wData, wShape) },
                { ...common, inputShape: xShape } as unknown as Attrs,
              )) as InstanceType<typeof tf.Tensor>;
        const expected = await runOn('cpu', kernel);
        const before = tf.memory().numTensors;
        const actual = await runOn('wasm', kernel);
        expect(tf.memory().numTensors).toBe(before);
        expect(actual.shape).toEqual(kernelName === 'Conv2DBackpropFilter' ? wShape : xShape);
        expect(expected.shape).toEqual(actual.shape);
        expect(maxAbs(expected.values)).toBeGreaterThan(0.1); // a real gradient, not all zeros
        expect(maxAbsDiff(actual.values, expected.values)).toBeLessThan(1e-3);
      });
    }
  }

  for (const [ta, tb] of [
    [true, false],
    [false, true],
    [true, true],
    [false, false],
  ] as const) {
    it(`BatchMatMul (wrapped) matches cpu: transposeA ${ta}, transposeB ${tb}, rank 2 and batched rank 3`, async () => {
      expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc).toBe(batchMatMulWasmConfig.kernelFunc);
      for (const [batch, m, k, n] of [
        [0, 7, 5, 3],
        [3, 4, 6, 2],
      ]) {
        const aShape = batch ? [batch, ta ? k : m, ta ? m : k] : [ta ? k : m, ta ? m : k];
        const bShape = batch ? [batch, tb ? n : k, tb ? k : n] : [tb ? n : k, tb ? k : n];
        const aData = randomData(aShape.reduce((x, y) => x * y, 1), 51);
        const bData = randomData(bShape.reduce((x, y) => x * y, 1), 52);
        const f = () => tf.matMul(tf.tensor(aData, aShape) as never, tf.tensor(bData, bShape) as never, ta, tb) as InstanceType<typeof tf.Tensor>;
        const expected = await runOn('cpu', f);
        const before = tf.memory().numTensors;
        const actual = await runOn('wasm', f);
        expect(tf.memory().numTensors).toBe(before);
        expect(actual.shape).toEqual(expected.shape);
        expect(actual.shape).toEqual(batch ? [batch, m, n] : [m, n]);
        expect(maxAbsDiff(actual.values, expected.values)).toBeLessThan(1e-4);
      }
    });
  }

  it("Conv2DBackpropInput falls back to wasm's own kernel for NCHW, and that one still works", async () => {
    const original = originalWasmConv2DBackpropInput();
    expect(original).toBeDefined();
    const [n, cin, h, w, cout] = [2, 3, 6, 6, 4];
    const dyData = randomData(n * cout * 3 * 3, 41);
    const wData = randomData(3 * 3 * cin * cout, 42);
    const attrs = { strides: [2, 2], pad: 'same', inputShape: [n, h, w, cin] };
    const expected = await runOn('cpu', () =>
      tf.engine().runKernel(
        'Conv2DBackpropInput',
        { dy: tf.transpose(tf.tensor4d(dyData, [n, cout, 3, 3]), [0, 2, 3, 1]), filter: tf.tensor4d(wData, [3, 3, cin, cout]) },
        { ...attrs, dataFormat: 'NHWC' } as unknown as Attrs,
      ) as InstanceType<typeof tf.Tensor>,
    );
    const actual = await runOn('wasm', () =>
      tf.transpose(
        tf.engine().runKernel(
          'Conv2DBackpropInput',
          { dy: tf.tensor4d(dyData, [n, cout, 3, 3]), filter: tf.tensor4d(wData, [3, 3, cin, cout]) },
          { ...attrs, inputShape: [n, cin, h, w], dataFormat: 'NCHW' } as unknown as Attrs,
        ) as InstanceType<typeof tf.Tensor>,
        [0, 2, 3, 1],
      ),
    );
    expect(maxAbsDiff(actual.values, expected.values)).toBeLessThan(1e-3);
  });

  it('handles NCHW input by transposing', async () => {
    const [n, cin, h, w, cout] = [2, 3, 6, 6, 4];
    const xData = randomData(n * cin * h * w, 21);
    const dyData = randomData(n * cout * 3 * 3, 22);
    const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, cin, cout] };
    const kernel = () =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x: tf.tensor4d(xData, [n, cin, h, w]), dy: tf.tensor4d(dyData, [n, cout, 3, 3]) },
        attrs as unknown as Attrs,
      ) as InstanceType<typeof tf.Tensor>;
    // The cpu kernel only supports NHWC, so compare with NHWC on cpu.
    const expected = await runOn('cpu', () =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        {
          x: tf.transpose(tf.tensor4d(xData, [n, cin, h, w]), [0, 2, 3, 1]),
          dy: tf.transpose(tf.tensor4d(dyData, [n, cout, 3, 3]), [0, 2, 3, 1]),
        },
        { ...attrs, dataFormat: 'NHWC' } as unknown as Attrs,
      ) as InstanceType<typeof tf.Tensor>,
    );
    const actual = await runOn('wasm', kernel);
    expect(maxAbsDiff(actual.values, expected.values)).toBeLessThan(1e-3);
  });

  it('rejects a dy whose shape does not fit the convolution with a clear error', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    expect(() =>
      tf.tidy(() =>
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: tf.zeros([1, 8, 8, 1]), dy: tf.zeros([1, 5, 5, 2]) },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 1, 2] } as unknown as Parameters<
            ReturnType<typeof tf.engine>['runKernel']
          >[2],
        ),
      ),
    ).toThrow(/Clusterlens Conv2DBackpropFilter: dy shape/);
    expect(tf.memory().numTensors).toBe(before);
  });

  // The autoencoder also needs the gradients of conv2dTranspose (Conv2DBackpropInput forward, then conv2d and
  // Conv2DBackpropFilter backward), max pooling and nearest-neighbour upsampling: compare full gradients with cpu.
  const gradCases: { name: string; f: (x: InstanceType<typeof tf.Tensor>, w: InstanceType<typeof tf.Tensor>) => InstanceType<typeof tf.Tensor>; x: number[]; w: number[] }[] = [
    {
      name: 'conv2d stride 2 same + relu',
      x: [3, 9, 9, 3],
      w: [3, 3, 3, 4],
      f: (x, w) => tf.relu(tf.conv2d(x as never, w as never, 2, 'same')),
    },
    {
      name: 'conv2dTranspose stride 2 same (decoder up-sampling)',
      x: [2, 4, 4, 4],
      w: [3, 3, 2, 4],
      f: (x, w) => tf.conv2dTranspose(x as never, w as never, [2, 8, 8, 2], 2, 'same'),
    },
    {
      // Batch 1 only: the cpu ResizeNearestNeighborGrad mixes up images when batch > 1 (wasm's is right), and wasm's
      // MaxPoolGrad drops gradients of windows whose maximum is negative, which is why the presets use neither.
      name: 'upsampling (resizeNearestNeighbor) + conv2d valid',
      x: [1, 5, 5, 2],
      w: [3, 3, 2, 3],
      f: (x, w) => tf.conv2d(tf.image.resizeNearestNeighbor(x as never, [10, 10]), w as never, 1, 'valid'),
    },
  ];
  for (const g of gradCases) {
    it(`gradients match cpu: ${g.name}`, async () => {
      const xData = randomData(g.x.reduce((a, b) => a * b, 1), 31);
      const wData = randomData(g.w.reduce((a, b) => a * b, 1), 32);
      const grads = async (backend: string) => {
        await tf.setBackend(backend);
        const res = tf.tidy(() => {
          const x = tf.tensor(xData, g.x);
          const w = tf.tensor(wData, g.w);
          const loss = (a: InstanceType<typeof tf.Tensor>, b: InstanceType<typeof tf.Tensor>) => tf.sum(tf.square(g.f(a, b)));
          return tf.grads(loss)([x, w]);
        });
        const out = await Promise.all(res.map((t) => t.data() as Promise<Float32Array>));
        tf.dispose(res);
        return out;
      };
      const [dxCpu, dwCpu] = await grads('cpu');
      const [dxWasm, dwWasm] = await grads('wasm');
      const scale = Math.max(1, maxAbs(dwCpu), maxAbs(dxCpu));
      expect(maxAbs(dwCpu)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(dxWasm, dxCpu) / scale).toBeLessThan(1e-4);
      expect(maxAbsDiff(dwWasm, dwCpu) / scale).toBeLessThan(1e-4);
    });
  }
});

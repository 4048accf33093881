import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { readJson, writeFileAtomic, writeFileAtomicWith, writeJsonAtomic } from '../../src/core/fsutil.js';
import { decodeNpy, encodeNpy, readNpy, writeNpy, type NpyArray } from '../../src/core/npy.js';
import { expectUserError } from '../fixtures/expect-error.js';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clusterlens-fsutil-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const userError = expectUserError;

describe('writeFileAtomic', () => {
  it('writes strings, bytes and chunk lists, replaces an existing file and leaves no temp file', async () => {
    const f = join(tmp, 'a.txt');
    await writeFileAtomic(f, 'héllo');
    expect(await readFile(f, 'utf8')).toBe('héllo');
    await writeFileAtomic(f, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(f))]).toEqual([1, 2, 3]);
    await writeFileAtomic(f, [new Uint8Array([9]), new Uint8Array(0), new Uint8Array([8, 7])]);
    expect([...(await readFile(f))]).toEqual([9, 8, 7]);
    expect(await readdir(tmp)).toEqual(['a.txt']);
  });

  it('concurrent writers to one file each use their own temp file; the result is one complete version', async () => {
    const f = join(tmp, 'race.txt');
    const versions = Array.from({ length: 20 }, (_, i) => String(i).repeat(50_000));
    await Promise.all(versions.map((v) => writeFileAtomic(f, v)));
    expect(versions).toContain(await readFile(f, 'utf8'));
    expect(await readdir(tmp)).toEqual(['race.txt']);
  });

  it('a failure while writing keeps the old file intact and removes the temp file', async () => {
    const f = join(tmp, 'keep.txt');
    await writeFileAtomic(f, 'old');
    await expect(
      writeFileAtomicWith(f, async (write) => {
        await write('new partial content');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readFile(f, 'utf8')).toBe('old');
    expect(await readdir(tmp)).toEqual(['keep.txt']);
  });

  it('a missing folder is a clear UserError', async () => {
    const e = await userError(writeFileAtomic(join(tmp, 'nope', 'x.txt'), 'x'));
    expect(e.message).toMatch(/does not exist/);
  });
});

describe('readJson / writeJsonAtomic', () => {
  const Schema = z.object({ name: z.string(), n: z.number().int() });

  it('round trips a value and applies the schema', async () => {
    const f = join(tmp, 'v.json');
    await writeJsonAtomic(f, { name: 'x', n: 3, extra: true });
    const v = await readJson(f, Schema);
    expect(v).toEqual({ name: 'x', n: 3 });
    expect(await readJson<{ extra: boolean }>(f)).toMatchObject({ extra: true });
    expect((await readFile(f, 'utf8')).endsWith('\n')).toBe(true);
  });

  it('missing, empty, corrupt and schema-invalid files give a UserError naming the file', async () => {
    const f = join(tmp, 'manifest.json');
    expect((await userError(readJson(f))).message).toBe(`file not found: ${f}`);
    await writeFile(f, '');
    expect((await userError(readJson(f))).message).toMatch(/manifest\.json is corrupt.*empty/);
    await writeFile(f, '{"name": "x", "n": ');
    expect((await userError(readJson(f))).message).toMatch(/manifest\.json is corrupt \(not valid JSON/);
    await writeFile(f, '{"name": 5, "n": 1.5}');
    const e = await userError(readJson(f, Schema));
    expect(e.message).toContain(f);
    expect(e.message).toMatch(/name: .*; n: /);
    expect(e.message.split('\n')).toHaveLength(1);
  });
});

/** A .npy v1.0 header built by hand from the format description (not with the code under test). */
function handHeader(dict: string, version = 1): Buffer {
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const h = Buffer.alloc(total, ' ');
  Buffer.from('\x93NUMPY', 'latin1').copy(h, 0);
  h[6] = version;
  h[7] = 0;
  if (version === 1) h.writeUInt16LE(total - pre, 8);
  else h.writeUInt32LE(total - pre, 8);
  h.write(dict, pre, 'latin1');
  h[total - 1] = 0x0a;
  return h;
}

describe('npy', () => {
  const cases: [string, NpyArray, number[], string][] = [
    ['float32', new Float32Array([1.5, -2, Math.PI, NaN, -0, Infinity]), [2, 3], '<f4'],
    ['int32', new Int32Array([0, -1, 2147483647, -2147483648, 42, 7, 8, 9]), [2, 2, 2], '<i4'],
    ['uint8', new Uint8Array([0, 1, 127, 128, 255]), [5], '|u1'],
    ['float64', new Float64Array([Number.MIN_VALUE, -1e308, 0.1, 2]), [4, 1], '<f8'],
    ['uint32', new Uint32Array([0, 4294967295, 123456789]), [3], '<u4'],
  ];

  for (const [dtype, data, shape, descr] of cases) {
    it(`${dtype}: file round trip is byte-exact, header padded to 64 bytes`, async () => {
      const f = join(tmp, `${dtype}.npy`);
      await writeNpy(f, data, shape);
      const bytes = await readFile(f);
      const headerLen = bytes.readUInt16LE(8);
      expect((10 + headerLen) % 64).toBe(0);
      expect(bytes[10 + headerLen - 1]).toBe(0x0a);
      expect(bytes.toString('latin1', 10, 10 + headerLen)).toContain(`'descr': '${descr}'`);
      const back = await readNpy(f);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual(shape);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(data.buffer, data.byteOffset, data.byteLength))).toBe(true);
      expect(encodeNpy(back.data, back.shape).equals(bytes)).toBe(true);
    });
  }

  it('a small float32 array matches a hand-built file exactly (and a subarray view writes only its own values)', async () => {
    const f = join(tmp, 'known.npy');
    const big = new Float32Array([9, 1, 2, 3, 4, 5, 6, 9]);
    await writeNpy(f, big.subarray(1, 7), [2, 3]);
    const expected = Buffer.concat([handHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6]).buffer)]);
    const got = await readFile(f);
    expect(got.length).toBe(128 + 24);
    expect(got.equals(expected)).toBe(true);
    // 1-D shapes use the Python one-tuple "(3,)", scalars "()".
    const h1 = handHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }");
    expect(encodeNpy(new Int32Array([1, 2, 3]), [3]).equals(Buffer.concat([h1, Buffer.from(new Int32Array([1, 2, 3]).buffer)]))).toBe(true);
    const h0 = handHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
    expect(encodeNpy(new Float64Array([7]), []).equals(Buffer.concat([h0, Buffer.from(new Float64Array([7]).buffer)]))).toBe(true);
  });

  it('reads v2.0 and v3.0 headers, empty arrays and unaligned input buffers', () => {
    const body = Buffer.from(new Int32Array([5, -6]).buffer);
    for (const v of [2, 3]) {
      const file = Buffer.concat([handHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", v), body]);
      const r = decodeNpy(file);
      expect([...r.data]).toEqual([5, -6]);
      expect(r.shape).toEqual([2]);
    }
    const empty = decodeNpy(encodeNpy(new Float32Array(0), [0, 3]));
    expect(empty.shape).toEqual([0, 3]);
    expect(empty.data.length).toBe(0);
    // Data at an odd byte offset (a Buffer slice) is copied into an aligned array.
    const enc = encodeNpy(new Float64Array([1.25, -3]), [2]);
    const shifted = Buffer.alloc(enc.length + 1);
    enc.copy(shifted, 1);
    expect([...decodeNpy(shifted.subarray(1)).data]).toEqual([1.25, -3]);
  });

  it('headers too long for v1.0 are written as v2.0', () => {
    const shape = Array.from({ length: 25_000 }, () => 1);
    const enc = encodeNpy(new Uint8Array([3]), shape);
    expect(enc[6]).toBe(2);
    expect((12 + enc.readUInt32LE(8)) % 64).toBe(0);
    const r = decodeNpy(enc);
    expect(r.shape).toHaveLength(25_000);
    expect([...r.data]).toEqual([3]);
  });

  it('big-endian, Fortran order, unknown dtypes and corrupt files give clear errors', async () => {
    const be = Buffer.concat([handHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }"), Buffer.alloc(4)]);
    expect(() => decodeNpy(be, 'be.npy')).toThrow(/be\.npy: big-endian data \(>f4\) is not supported/);
    const fo = Buffer.concat([handHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), Buffer.alloc(16)]);
    expect(() => decodeNpy(fo, 'fo.npy')).toThrow(/Fortran-order/);
    const c8 = Buffer.concat([handHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), Buffer.alloc(8)]);
    expect(() => decodeNpy(c8, 'c.npy')).toThrow(/unsupported dtype <c8/);

    const f = join(tmp, 'codes.npy');
    await writeNpy(f, new Float32Array(10), [10]);
    const good = await readFile(f);
    await writeFile(f, good.subarray(0, good.length - 3));
    expect((await userError(readNpy(f))).message).toMatch(/codes\.npy is not a valid \.npy file: truncated data/);
    await writeFile(f, Buffer.concat([good, Buffer.from([1])]));
    expect((await userError(readNpy(f))).message).toMatch(/unexpected bytes/);
    await writeFile(f, 'not numpy at all');
    expect((await userError(readNpy(f))).message).toMatch(/codes\.npy is not a valid \.npy file: missing the/);
    await writeFile(f, good.subarray(0, 40));
    expect((await userError(readNpy(f))).message).toMatch(/truncated header/);
    expect((await userError(readNpy(join(tmp, 'missing.npy')))).message).toMatch(/file not found: .*missing\.npy/);
  });

  it('rejects a shape that does not match the data', async () => {
    await expect(writeNpy(join(tmp, 'x.npy'), new Float32Array(6), [4, 2])).rejects.toThrow(/holds 8 values but the array has 6/);
    await expect(writeNpy(join(tmp, 'x.npy'), new Float32Array(6), [-2, -3])).rejects.toThrow(/invalid shape/);
    expect(await readdir(tmp)).toEqual([]);
  });
});

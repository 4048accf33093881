/**
 * NumPy .npy files (format v1.0 on write; v1.0, v2.0 and v3.0 accepted on read), little-endian, C order.
 *
 * Layout: "\x93NUMPY", major, minor, header length (uint16 LE for v1, uint32 LE for v2/v3), then an ASCII
 * (v3: UTF-8) Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a final '\n' so that the data starts at a multiple of 64 bytes; then the raw data.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { writeFileAtomic, isCode } from './fsutil.js';
import { UserError } from './types.js';

export type NpyArray = Float32Array | Int32Array | Uint8Array | Float64Array | Uint32Array;
export type NpyDtype = 'float32' | 'int32' | 'uint8' | 'float64' | 'uint32';

export interface NpyContent {
  data: NpyArray;
  shape: number[];
  /** NumPy dtype name: 'float32' | 'int32' | 'uint8' | 'float64' | 'uint32'. */
  dtype: NpyDtype;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;
const HOST_LE = endianness() === 'LE';

interface DtypeInfo {
  dtype: NpyDtype;
  descr: string;
  bytes: number;
  make: (buf: ArrayBuffer, length: number) => NpyArray;
}

const DTYPES: DtypeInfo[] = [
  { dtype: 'float32', descr: '<f4', bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  { dtype: 'int32', descr: '<i4', bytes: 4, make: (b, n) => new Int32Array(b, 0, n) },
  { dtype: 'uint8', descr: '|u1', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  { dtype: 'float64', descr: '<f8', bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
  { dtype: 'uint32', descr: '<u4', bytes: 4, make: (b, n) => new Uint32Array(b, 0, n) },
];

function infoForArray(array: NpyArray): DtypeInfo {
  if (array instanceof Float32Array) return DTYPES[0];
  if (array instanceof Int32Array) return DTYPES[1];
  if (array instanceof Uint8Array) return DTYPES[2];
  if (array instanceof Float64Array) return DTYPES[3];
  if (array instanceof Uint32Array) return DTYPES[4];
  throw new TypeError('writeNpy: unsupported array type (use Float32Array, Int32Array, Uint8Array, Float64Array or Uint32Array)');
}

function checkShape(shape: readonly number[], length: number): void {
  if (!Array.isArray(shape)) throw new TypeError('npy: shape must be an array of integers');
  for (const d of shape) if (!Number.isSafeInteger(d) || d < 0) throw new TypeError(`npy: invalid shape [${shape.join(', ')}]`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== length) throw new TypeError(`npy: shape [${shape.join(', ')}] holds ${size} values but the array has ${length}`);
}

/** The header (magic .. padded dict) for `descr` and `shape`, version 1.0 when it fits, else 2.0. */
export function npyHeader(descr: string, shape: readonly number[]): Buffer {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  let version = 1;
  let pre = MAGIC.length + 2 + 2;
  let total = Math.ceil((pre + dict.length + 1) / ALIGN) * ALIGN;
  if (total - pre > 0xffff) {
    version = 2;
    pre = MAGIC.length + 2 + 4;
    total = Math.ceil((pre + dict.length + 1) / ALIGN) * ALIGN;
  }
  const headerLen = total - pre;
  const out = Buffer.alloc(total, 0x20);
  MAGIC.copy(out, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) out.writeUInt16LE(headerLen, 8);
  else out.writeUInt32LE(headerLen, 8);
  out.write(dict, pre, 'latin1');
  out[total - 1] = 0x0a;
  return out;
}

/** The array's bytes in little-endian order (a view when the host is little-endian, a swapped copy otherwise). */
function littleEndianBytes(array: NpyArray, bytes: number): Uint8Array {
  const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (HOST_LE || bytes === 1) return view;
  const copy = Uint8Array.from(view);
  swapInPlace(copy, bytes);
  return copy;
}

function swapInPlace(b: Uint8Array, bytes: number): void {
  for (let i = 0; i < b.length; i += bytes) {
    for (let j = 0; j < bytes >> 1; j++) {
      const t = b[i + j];
      b[i + j] = b[i + bytes - 1 - j];
      b[i + bytes - 1 - j] = t;
    }
  }
}

function encodeParts(array: NpyArray, shape: readonly number[]): [Buffer, Uint8Array] {
  const info = infoForArray(array);
  checkShape(shape, array.length);
  return [npyHeader(info.descr, shape), littleEndianBytes(array, info.bytes)];
}

/** Encode a typed array with `shape` (C order) as .npy bytes. */
export function encodeNpy(array: NpyArray, shape: readonly number[]): Buffer {
  const [header, body] = encodeParts(array, shape);
  return Buffer.concat([header, body]);
}

/** Write `array` with `shape` as a .npy file, atomically (no full copy of the data is made). */
export async function writeNpy(path: string, array: NpyArray, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeParts(array, shape));
}

/** Decode .npy bytes; `name` (a file path) is used in error messages. The data is copied into a fresh, aligned buffer. */
export function decodeNpy(buf: Uint8Array, name = '.npy data'): NpyContent {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const bad = (why: string) => new UserError(`${name} is not a valid .npy file: ${why}`);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw bad('missing the \\x93NUMPY signature');
  const major = b[6];
  let pre: number;
  let headerLen: number;
  if (major === 1) {
    pre = 10;
    headerLen = b.readUInt16LE(8);
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw bad('truncated header');
    pre = 12;
    headerLen = b.readUInt32LE(8);
  } else {
    throw bad(`unsupported format version ${major}.${b[7]}`);
  }
  if (pre + headerLen > b.length) throw bad('truncated header');
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', pre, pre + headerLen);

  const descrM = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrM || !fortranM || !shapeM) throw bad(`unreadable header ${JSON.stringify(header.trim())}`);
  const descr = descrM[1];
  if (fortranM[1] === 'True') throw new UserError(`${name}: Fortran-order arrays are not supported (save it in C order, e.g. numpy.ascontiguousarray)`);
  const shapeText = shapeM[1].trim();
  const shape = shapeText === '' ? [] : shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`invalid shape (${shapeText})`);

  if (descr.length >= 2 && descr[0] === '>' && descr.slice(1) !== 'u1') {
    throw new UserError(`${name}: big-endian data (${descr}) is not supported (save it little-endian, e.g. array.astype('<${descr.slice(1)}'))`);
  }
  const norm = descr.replace(/^[<|=]/, '').replace(/^>(?=u1$)/, '');
  const info = DTYPES.find((d) => d.descr.slice(1) === norm);
  if (!info) throw new UserError(`${name}: unsupported dtype ${descr} (supported: float32, float64, int32, uint32, uint8)`);

  const count = shape.reduce((a, c) => a * c, 1);
  const start = pre + headerLen;
  const nbytes = count * info.bytes;
  if (b.length < start + nbytes) throw bad(`truncated data: the header promises ${nbytes} bytes of ${info.dtype} but the file has ${b.length - start}`);
  if (b.length > start + nbytes) throw bad(`${b.length - start - nbytes} unexpected bytes after the data`);
  const copy = new ArrayBuffer(nbytes);
  const bytes = new Uint8Array(copy);
  bytes.set(b.subarray(start, start + nbytes));
  if (!HOST_LE && info.bytes > 1) swapInPlace(bytes, info.bytes);
  return { data: info.make(copy, count), shape, dtype: info.dtype };
}

/** Read a .npy file. Missing or corrupt files, big-endian or Fortran-order data give a clear UserError naming the file. */
export async function readNpy(path: string): Promise<NpyContent> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if (isCode(e, 'ENOENT')) throw new UserError(`file not found: ${path}`);
    if (isCode(e, 'EISDIR')) throw new UserError(`expected a file but found a folder: ${path}`);
    throw e;
  }
  return decodeNpy(buf, path);
}

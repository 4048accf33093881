/**
 * CSV export and label import.
 *
 * Written files follow RFC 4180: UTF-8 without BOM, comma-separated, CRLF line endings (what RFC 4180 and
 * spreadsheet programs expect), fields quoted only when they contain a comma, a quote or a line break.
 *
 * Formula injection (OWASP "CSV injection"): every *string* cell that starts with = + - @, a tab or a carriage
 * return is written with a leading single quote ' so that a spreadsheet shows it as text instead of running
 * it. Numbers are written as plain numbers (a negative number is not a string and is not touched). To keep the
 * round trip exact, a string that already starts with quotes followed by one of those characters ('=x) gets
 * one more quote, and import removes exactly one leading quote from any value of the form '…'<trigger>.
 */
import { readFile } from 'node:fs/promises';
import { stringify } from 'csv-stringify/sync';
import { parse } from 'csv-parse/sync';
import { writeFileAtomicWith, isCode } from './fsutil.js';
import { validateLabel } from './labels.js';
import { UserError } from './types.js';

export const CSV_RECORD_DELIMITER = '\r\n';
const BATCH = 2000;
const MAX_NOTES_PER_KIND = 10;

const NEEDS_NEUTRALISING = /^'*[=+\-@\t\r]/;
const WAS_NEUTRALISED = /^'+[=+\-@\t\r]/;

/** A string cell as it is written: prefixed with ' when a spreadsheet could read it as a formula. */
export function neutraliseCell(value: string): string {
  return NEEDS_NEUTRALISING.test(value) ? `'${value}` : value;
}

/** Undo neutraliseCell: remove the one quote it added. */
export function unneutraliseCell(value: string): string {
  return WAS_NEUTRALISED.test(value) ? value.slice(1) : value;
}

/** One cell: strings neutralised, finite numbers as numbers, null/undefined/NaN empty, booleans true/false, dates ISO. */
function cell(v: unknown): string | number {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isNaN(v) ? '' : v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return neutraliseCell(v);
  if (v instanceof Date) return v.toISOString();
  return neutraliseCell(typeof v === 'object' ? JSON.stringify(v) : String(v));
}

/**
 * Write a CSV file atomically: a header row of `columns`, then `rows` (a sync or async iterable, consumed in
 * batches so 100k rows never become one giant string). Rows shorter than the header are padded with empty cells.
 */
export async function writeCsv(path: string, columns: readonly string[], rows: AsyncIterable<readonly unknown[]> | Iterable<readonly unknown[]>): Promise<{ rows: number }> {
  let count = 0;
  const encode = (batch: (string | number)[][]) => stringify(batch, { record_delimiter: CSV_RECORD_DELIMITER, eof: true, quoted_match: /[\r\n]/ });
  await writeFileAtomicWith(path, async (write) => {
    await write(encode([columns.map((c) => cell(c))]));
    let batch: (string | number)[][] = [];
    for await (const row of rows as AsyncIterable<readonly unknown[]>) {
      if (!Array.isArray(row)) throw new TypeError(`writeCsv: row ${count + 1} is not an array`);
      const out = row.map(cell);
      while (out.length < columns.length) out.push('');
      batch.push(out);
      count++;
      if (batch.length >= BATCH) {
        await write(encode(batch));
        batch = [];
      }
    }
    if (batch.length) await write(encode(batch));
  });
  return { rows: count };
}

export interface LabelsCsv {
  rows: { path: string; label: string }[];
  /** Human-readable notes about rows that were skipped or overridden (with their line numbers). */
  problems: string[];
}

/**
 * Read a labels CSV: a header with `path` and `label` columns (any case, any order, other columns ignored, so
 * an exported file can be imported again), a UTF-8 BOM is tolerated. Rows with an empty path or label or an
 * invalid label are skipped with a note; a path listed twice keeps its last label (with a note). Values are
 * trimmed and the quote added by formula neutralisation is removed. A malformed file gives a UserError with
 * the line number.
 */
export async function readLabelsCsv(path: string): Promise<LabelsCsv> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (isCode(e, 'ENOENT')) throw new UserError(`file not found: ${path}`);
    if (isCode(e, 'EISDIR')) throw new UserError(`expected a CSV file but found a folder: ${path}`);
    throw e;
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, info: true, relax_column_count: true, skip_empty_lines: true }) as unknown as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number };
    const line = typeof err.lines === 'number' ? ` at line ${err.lines}` : '';
    throw new UserError(`${path} is not a valid CSV file${line}: ${err.message.replace(/^Invalid [^:]*:\s*/, '')}`);
  }
  if (records.length === 0) throw new UserError(`${path} is empty: expected a header row with "path" and "label" columns`);
  const header = records[0].record.map((h) => h.replace(/^\uFEFF/, '').trim().toLowerCase());
  const pathCol = header.indexOf('path');
  const labelCol = header.indexOf('label');
  if (pathCol < 0 || labelCol < 0) {
    const missing = [pathCol < 0 ? '"path"' : '', labelCol < 0 ? '"label"' : ''].filter(Boolean).join(' and ');
    throw new UserError(`${path}: the header row has no ${missing} column (found: ${records[0].record.map((h) => JSON.stringify(h)).join(', ') || 'nothing'})`);
  }

  const notes = new Map<string, string[]>();
  const note = (kind: string, msg: string) => {
    const list = notes.get(kind) ?? [];
    list.push(msg);
    notes.set(kind, list);
  };
  const byPath = new Map<string, { label: string; line: number }>();
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    const p = unneutraliseCell((record[pathCol] ?? '').trim());
    const rawLabel = unneutraliseCell((record[labelCol] ?? '').trim());
    if (p === '') {
      note('path', `line ${line}: no path, row skipped`);
      continue;
    }
    if (rawLabel === '') {
      note('empty', `line ${line}: empty label for ${p}, row skipped`);
      continue;
    }
    let label: string;
    try {
      label = validateLabel(rawLabel);
    } catch (e) {
      note('invalid', `line ${line}: ${(e as Error).message}, row skipped`);
      continue;
    }
    const prev = byPath.get(p);
    if (prev) {
      note('dup', `line ${line}: ${p} was already listed on line ${prev.line}${prev.label === label ? '' : ` as "${prev.label}"`}; the last row wins ("${label}")`);
      byPath.delete(p); // re-insert so the row order follows the winning line
    }
    byPath.set(p, { label, line });
  }
  const problems: string[] = [];
  for (const list of notes.values()) {
    problems.push(...list.slice(0, MAX_NOTES_PER_KIND));
    if (list.length > MAX_NOTES_PER_KIND) problems.push(`… and ${list.length - MAX_NOTES_PER_KIND} more like that`);
  }
  return { rows: [...byPath].map(([p, { label }]) => ({ path: p, label })), problems };
}

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { neutraliseCell, readLabelsCsv, unneutraliseCell, writeCsv } from '../../src/core/csv.js';
import { expectUserError } from '../fixtures/expect-error.js';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clusterlens-csv-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const userError = expectUserError;

const TRICKY: [string, string][] = [
  ['plain/a.png', 'cat'],
  ['with,comma/b.png', 'dog, big'],
  ['quote"d/c.png', 'the "best" one'],
  ['new\nline/d.png', 'unicode 🐱 çà 日本'],
  ['=HYPERLINK("http://evil")', '=1+2'],
  ['+plus.png', '+cmd'],
  ['-minus.png', '-5'],
  ['@at.png', '@SUM(A1)'],
  ["'=already.png", "'+quoted"],
  ["it's.png", "'plain quote"],
  [' spaced.png', 'x'],
];

describe('writeCsv', () => {
  it('writes RFC 4180 CSV with CRLF, quoting only when needed, numbers unquoted and not neutralised', async () => {
    const f = join(tmp, 'out.csv');
    const r = await writeCsv(f, ['path', 'label', 'n', 'x'], [
      ['a.png', 'cat', 3, -1.5],
      ['b,c.png', 'say "hi"', -0.25, null],
      ['multi\nline', '', 1e-7, undefined],
      ['short'],
    ]);
    expect(r.rows).toBe(4);
    const text = await readFile(f, 'utf8');
    expect(text).toBe(['path,label,n,x', 'a.png,cat,3,-1.5', '"b,c.png","say ""hi""",-0.25,', '"multi\nline",,1e-7,', 'short,,,', ''].join('\r\n'));
  });

  it('neutralises string cells starting with = + - @ tab or CR (not numbers)', async () => {
    const f = join(tmp, 'inj.csv');
    await writeCsv(f, ['a', 'b'], [
      ['=cmd|" /C calc"!A0', -42],
      ['+1', '-1'],
      ['@SUM(1)', '\tTAB'],
      ['\rCR', 'safe=ok'],
      ["'=x", "'fine"],
    ]);
    const lines = (await readFile(f, 'utf8')).split('\r\n');
    expect(lines[1]).toBe(`"'=cmd|"" /C calc""!A0",-42`);
    expect(lines[2]).toBe(`'+1,'-1`);
    expect(lines[3]).toBe(`'@SUM(1),'\tTAB`);
    expect(lines[4]).toBe(`"'\rCR",safe=ok`);
    expect(lines[5]).toBe(`''=x,'fine`);
    for (const line of lines.slice(1, -1)) {
      for (const c of line.split(',')) expect(c.replace(/^"/, '')).not.toMatch(/^[=+@\t\r]/);
    }
    expect(unneutraliseCell(neutraliseCell('-x'))).toBe('-x');
    expect(unneutraliseCell(neutraliseCell("''@x"))).toBe("''@x");
    expect(unneutraliseCell("'hello")).toBe("'hello");
  });

  it('streams 100,000 rows from an async iterable', async () => {
    const f = join(tmp, 'big.csv');
    async function* rows() {
      for (let i = 0; i < 100_000; i++) yield [`img_${i}.png`, i % 2 ? 'odd' : 'even', i * 0.5];
    }
    const r = await writeCsv(f, ['path', 'label', 'v'], rows());
    expect(r.rows).toBe(100_000);
    const text = await readFile(f, 'utf8');
    const lines = text.split('\r\n');
    expect(lines).toHaveLength(100_002);
    expect(lines[100_000]).toBe('img_99999.png,odd,49999.5');
  });

  it('is atomic: a failing row source leaves the old file and no temp file', async () => {
    const f = join(tmp, 'keep.csv');
    await writeFile(f, 'old');
    function* rows() {
      for (let i = 0; i < 5000; i++) yield [`p${i}`];
      throw new Error('source failed');
    }
    await expect(writeCsv(f, ['path'], rows())).rejects.toThrow('source failed');
    expect(await readFile(f, 'utf8')).toBe('old');
    expect(await readdir(tmp)).toEqual(['keep.csv']);
  });
});

describe('readLabelsCsv', () => {
  it('round trips tricky paths and labels through an exported file with extra columns', async () => {
    const f = join(tmp, 'export.csv');
    await writeCsv(f, ['path', 'label', 'label_source', 'cluster', 'x'], TRICKY.map(([p, l], i) => [p, l, 'cluster', i, -i / 3]));
    const { rows, problems } = await readLabelsCsv(f);
    expect(problems).toEqual([]);
    // Leading/trailing spaces are trimmed on import (hand-edited files), everything else is exact.
    expect(rows).toEqual(TRICKY.map(([path, label]) => ({ path: path.trim(), label })));
  });

  it('tolerates a BOM, any header case and column order, LF or CRLF', async () => {
    const f = join(tmp, 'excel.csv');
    await writeFile(f, '\uFEFFLabel;x,Extra,PATH\n' + 'cat,1,a.png\r\n' + "'-neg,2,'=b.png\n");
    // ';' is not a delimiter here: the first header cell is "Label;x" → no label column.
    expect((await userError(readLabelsCsv(f))).message).toMatch(/no "label" column \(found: "Label;x", "Extra", "PATH"\)/);
    await writeFile(f, '\uFEFFLabel,Extra,PATH\n' + 'cat,1,a.png\r\n' + "'-neg,2,'=b.png\n");
    const { rows, problems } = await readLabelsCsv(f);
    expect(problems).toEqual([]);
    expect(rows).toEqual([
      { path: 'a.png', label: 'cat' },
      { path: '=b.png', label: '-neg' },
    ]);
  });

  it('skips empty labels and invalid rows with notes; duplicate paths: the last wins', async () => {
    const f = join(tmp, 'messy.csv');
    await writeFile(f, ['path,label', 'a.png,cat', 'b.png,', 'a.png,dog', ',orphan', 'c.png,  ', 'd.png,"tab\there"', 'b.png,bird', ''].join('\n'));
    const { rows, problems } = await readLabelsCsv(f);
    expect(rows).toEqual([
      { path: 'a.png', label: 'dog' },
      { path: 'b.png', label: 'bird' },
    ]);
    expect(problems.join('\n')).toMatch(/line 3: empty label for b\.png/);
    expect(problems.join('\n')).toMatch(/line 6: empty label for c\.png/);
    expect(problems.join('\n')).toMatch(/line 4: a\.png was already listed on line 2 as "cat"; the last row wins \("dog"\)/);
    expect(problems.join('\n')).toMatch(/line 5: no path/);
    expect(problems.join('\n')).toMatch(/line 7: .*control characters/);
    expect(problems).toHaveLength(5);
  });

  it('caps repeated notes', async () => {
    const f = join(tmp, 'many.csv');
    await writeFile(f, 'path,label\n' + Array.from({ length: 50 }, (_, i) => `p${i},`).join('\n'));
    const { rows, problems } = await readLabelsCsv(f);
    expect(rows).toEqual([]);
    expect(problems).toHaveLength(11);
    expect(problems.at(-1)).toBe('… and 40 more like that');
  });

  it('missing columns, empty and malformed files give one-line UserErrors (with the line number)', async () => {
    const f = join(tmp, 'bad.csv');
    await writeFile(f, 'file,class\na.png,cat\n');
    expect((await userError(readLabelsCsv(f))).message).toMatch(/bad\.csv: the header row has no "path" and "label" column/);
    await writeFile(f, 'path,name\na.png,cat\n');
    expect((await userError(readLabelsCsv(f))).message).toMatch(/has no "label" column/);
    await writeFile(f, '');
    expect((await userError(readLabelsCsv(f))).message).toMatch(/bad\.csv is empty/);
    await writeFile(f, 'path,label\na.png,cat\nb.png,"unterminated\nc.png,dog\n');
    const e = await userError(readLabelsCsv(f));
    expect(e.message).toMatch(/bad\.csv is not a valid CSV file at line \d+/);
    await writeFile(f, 'path,label\na.png,cat\nb.png,"x"y\n');
    expect((await userError(readLabelsCsv(f))).message).toMatch(/not a valid CSV file at line 3/);
    expect((await userError(readLabelsCsv(join(tmp, 'none.csv')))).message).toMatch(/file not found/);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOURNAL_FILE, LABELS_FILE, LabelStore, MAX_UNDO, validateLabel } from '../../src/core/labels.js';
import { UserError } from '../../src/core/types.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

let tmp: string;
const open: LabelStore[] = [];
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clusterlens-labels-'));
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
  await rm(tmp, { recursive: true, force: true });
});

async function openStore(warnings?: string[]): Promise<LabelStore> {
  const s = await LabelStore.open(tmp, { onWarning: (m) => warnings?.push(m) });
  open.push(s);
  return s;
}

/** A reopened store's labels as a plain object path → label. */
function plain(s: LabelStore): Record<string, string> {
  return Object.fromEntries([...s.all()].map(([p, r]) => [p, r.label]));
}

describe('LabelStore basics', () => {
  it('assigns, clears and counts; everything survives a re-open', async () => {
    const s = await openStore();
    const r = await s.assign(['a.png', 'b.png', 'c.png', 'a.png'], 'cat', 'cluster', 'cluster 0');
    expect(r).toMatchObject({ kind: 'assign', label: 'cat', count: 3, source: 'cluster', note: 'cluster 0' });
    await s.assign(['c.png', 'd.png'], '  dog ', 'single');
    const cleared = await s.assign(['b.png', 'zzz.png'], null, 'selection');
    expect(cleared).toMatchObject({ kind: 'clear', label: null, count: 1 });
    expect(s.get('c.png')).toMatchObject({ label: 'dog', source: 'single' });
    expect(Date.parse(s.get('c.png')!.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(s.get('b.png')).toBeUndefined();
    expect(Object.fromEntries(s.counts())).toEqual({ cat: 1, dog: 2 });
    await s.close();

    const again = await openStore();
    expect(plain(again)).toEqual({ 'a.png': 'cat', 'c.png': 'dog', 'd.png': 'dog' });
    expect(again.get('a.png')).toEqual(s.get('a.png'));
    expect(again.history().map((h) => h.kind)).toEqual(['assign', 'assign', 'clear']);
  });

  it('rename merges into an existing label, delete removes one; both undo exactly', async () => {
    const s = await openStore();
    await s.assign(['1', '2'], 'cat', 'cluster');
    await s.assign(['3'], 'kitten', 'single');
    const before = new Map(s.all());
    expect(await s.renameLabel('kitten', 'cat')).toMatchObject({ kind: 'rename', from: 'kitten', label: 'cat', count: 1 });
    expect(s.get('3')).toMatchObject({ label: 'cat', source: 'single' });
    expect(Object.fromEntries(s.counts())).toEqual({ cat: 3 });
    expect(await s.deleteLabel('cat')).toMatchObject({ kind: 'delete', count: 3 });
    expect(s.all().size).toBe(0);
    // Nothing to do: nothing recorded.
    expect(await s.deleteLabel('cat')).toMatchObject({ id: 0, count: 0 });
    expect(await s.renameLabel('nope', 'x')).toMatchObject({ id: 0, count: 0 });
    expect(s.history()).toHaveLength(4);
    await s.undo();
    await s.undo();
    expect(new Map(s.all())).toEqual(before);
  });

  it('rejects bad label names with a UserError', async () => {
    const s = await openStore();
    for (const bad of ['', '   ', 'a\nb', 'tab\there', 'x'.repeat(201), 'nul\u0000']) {
      expect(() => s.assign(['a'], bad, 'single')).toThrow(UserError);
    }
    expect(() => s.renameLabel('a', '')).toThrow(UserError);
    expect(validateLabel(' ok label ')).toBe('ok label');
    expect(validateLabel('x'.repeat(200))).toHaveLength(200);
    expect(validateLabel('🐱 chat, "quoted"')).toBe('🐱 chat, "quoted"');
    expect(() => s.assign([''], 'ok', 'single')).toThrow(UserError);
    expect(s.history()).toHaveLength(0);
  });

  it('undo/redo survive re-open; a new edit clears redo', async () => {
    let s = await openStore();
    await s.assign(['a', 'b'], 'one', 'cluster');
    await s.assign(['b', 'c'], 'two', 'selection');
    await s.assign(['a'], 'three', 'single');
    expect(await s.undo()).toMatchObject({ label: 'three' });
    expect(await s.undo()).toMatchObject({ label: 'two' });
    expect(plain(s)).toEqual({ a: 'one', b: 'one' });
    await s.close();

    s = await openStore();
    expect(plain(s)).toEqual({ a: 'one', b: 'one' });
    expect(s.canUndo()).toBe(true);
    expect(s.redoHistory().map((h) => h.label)).toEqual(['two', 'three']);
    expect(await s.redo()).toMatchObject({ label: 'two' });
    expect(plain(s)).toEqual({ a: 'one', b: 'two', c: 'two' });
    await s.close();

    s = await openStore();
    expect(plain(s)).toEqual({ a: 'one', b: 'two', c: 'two' });
    expect(s.canRedo()).toBe(true);
    await s.assign(['d'], 'four', 'single');
    expect(s.canRedo()).toBe(false);
    expect(await s.redo()).toBeNull();
    await s.close();

    s = await openStore();
    expect(s.canRedo()).toBe(false);
    expect(s.history().map((h) => h.label)).toEqual(['one', 'two', 'four']);
    for (let i = 0; i < 3; i++) await s.undo();
    expect(await s.undo()).toBeNull();
    expect(s.all().size).toBe(0);
  });

  it('paths such as __proto__ are ordinary keys, also after compaction', async () => {
    let s = await openStore();
    await s.assign(['__proto__', 'constructor', 'x/y z,é.png'], 'odd', 'single');
    await s.compact();
    await s.close();
    s = await openStore();
    expect(plain(s)).toEqual({ ['__proto__']: 'odd', constructor: 'odd', 'x/y z,é.png': 'odd' });
    expect(Object.prototype.hasOwnProperty.call(plain(s), '__proto__')).toBe(true);
  });
});

describe('journal durability', () => {
  it('compaction keeps labels and undo history, empties the journal, and bounds the history', async () => {
    let s = await openStore();
    for (let i = 0; i < MAX_UNDO + 5; i++) await s.assign([`p${i % 7}`], `L${i}`, 'single');
    expect(s.history()).toHaveLength(MAX_UNDO);
    await s.undo();
    const state = plain(s);
    await s.compact();
    expect((await stat(join(tmp, JOURNAL_FILE))).size).toBe(0);
    const snap = JSON.parse(await readFile(join(tmp, LABELS_FILE), 'utf8'));
    expect(snap.seq).toBe(MAX_UNDO + 6);
    expect(snap.undo).toHaveLength(MAX_UNDO - 1);
    expect(snap.redo).toHaveLength(1);
    await s.close();

    s = await openStore();
    expect(plain(s)).toEqual(state);
    expect(s.history()).toHaveLength(MAX_UNDO - 1);
    expect(await s.redo()).toMatchObject({ label: `L${MAX_UNDO + 4}` });
    expect(s.get(`p${(MAX_UNDO + 4) % 7}`)?.label).toBe(`L${MAX_UNDO + 4}`);
    await s.undo();
    await s.undo();
    expect(s.get(`p${(MAX_UNDO + 3) % 7}`)?.label).toBe(`L${MAX_UNDO + 3 - 7}`);
    // New edits after compaction continue the sequence and replay on top of the snapshot.
    await s.assign(['new'], 'fresh', 'single');
    await s.close();
    s = await openStore();
    expect(s.get('new')?.label).toBe('fresh');
    expect(s.history().at(-1)!.id).toBe(MAX_UNDO + 10);
  });

  it('a crash between writing labels.json and emptying the journal neither loses nor double-applies edits', async () => {
    let s = await openStore();
    await s.assign(['a', 'b'], 'x', 'cluster');
    await s.assign(['b'], 'y', 'single');
    await s.undo();
    const journal = await readFile(join(tmp, JOURNAL_FILE));
    await s.compact();
    await s.close();
    // Simulate the crash: the snapshot is written but the journal still has everything it includes.
    await writeFile(join(tmp, JOURNAL_FILE), journal);
    const warnings: string[] = [];
    s = await openStore(warnings);
    expect(warnings).toEqual([]);
    expect(plain(s)).toEqual({ a: 'x', b: 'x' });
    expect(s.history().map((h) => h.label)).toEqual(['x']);
    expect(s.redoHistory().map((h) => h.label)).toEqual(['y']);
    await s.assign(['c'], 'z', 'single');
    await s.close();
    s = await openStore();
    expect(plain(s)).toEqual({ a: 'x', b: 'x', c: 'z' });
    expect(s.history().map((h) => h.label)).toEqual(['x', 'z']);
  });

  it('a torn last line is ignored with a warning and cut off before the next append', async () => {
    let s = await openStore();
    await s.assign(['a'], 'one', 'single');
    await s.assign(['b'], 'two', 'single');
    await s.close();
    const jf = join(tmp, JOURNAL_FILE);
    const full = await readFile(jf, 'utf8');
    // A third entry cut short by a kill: no final newline.
    await appendFile(jf, '{"s":3,"op":"edit","e":{"id":3,"kind":"assign","at":"2024-01-01T00:00:00.000Z","label":"three","paths":["c"');
    const warnings: string[] = [];
    s = await openStore(warnings);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/incomplete last line 3/);
    expect(plain(s)).toEqual({ a: 'one', b: 'two' });
    // Opening only to read does not touch the file.
    expect((await readFile(jf, 'utf8')).length).toBeGreaterThan(full.length);
    await s.assign(['d'], 'four', 'single');
    await s.close();
    const w2: string[] = [];
    s = await openStore(w2);
    expect(w2).toEqual([]);
    expect(plain(s)).toEqual({ a: 'one', b: 'two', d: 'four' });
    expect((await readFile(jf, 'utf8')).startsWith(full)).toBe(true);
  });

  it('a corrupt line in the middle is a UserError with the line number', async () => {
    const s = await openStore();
    await s.assign(['a'], 'one', 'single');
    await s.assign(['b'], 'two', 'single');
    await s.close();
    const jf = join(tmp, JOURNAL_FILE);
    const lines = (await readFile(jf, 'utf8')).split('\n');
    lines[0] = lines[0].slice(0, 20) + 'garbage';
    await writeFile(jf, lines.join('\n'));
    await expect(LabelStore.open(tmp)).rejects.toThrow(/labels\.journal is corrupt at line 1/);
    await writeFile(join(tmp, LABELS_FILE), '{"format": "clusterlens-labels"');
    await expect(LabelStore.open(tmp)).rejects.toThrow(/labels\.json is corrupt/);
  });

  it('two stores taking turns on one project see each other’s edits', async () => {
    const a = await openStore();
    const b = await openStore();
    await a.assign(['x'], 'from-a', 'single');
    await b.assign(['y'], 'from-b', 'single');
    await a.assign(['z'], 'from-a', 'single');
    expect(plain(a)).toEqual({ x: 'from-a', y: 'from-b', z: 'from-a' });
    await b.compact();
    await a.undo();
    expect(plain(a)).toEqual({ x: 'from-a', y: 'from-b' });
    await a.close();
    await b.close();
    const c = await openStore();
    expect(plain(c)).toEqual({ x: 'from-a', y: 'from-b' });
  });

  it('assigning 10,000 paths is confirmed (fsync\u2019d) in well under 0.3 s', async () => {
    const s = await openStore();
    const paths = Array.from({ length: 10_000 }, (_, i) => `images/class_${i % 10}/img_${String(i).padStart(6, '0')}.png`);
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      const res = await s.assign(paths, `label ${r}`, 'cluster');
      times.push(performance.now() - t);
      expect(res.count).toBe(10_000);
    }
    times.sort((x, y) => x - y);
    console.log(`assign 10,000 paths: median ${times[2].toFixed(1)} ms, max ${times[4].toFixed(1)} ms`);
    expect(times[2]).toBeLessThan(300);
    await s.close();
    const again = await openStore();
    expect(again.counts().get('label 4')).toBe(10_000);
  });
});

/**
 * Run the kill-writer child until it has confirmed at least `want` edits, then SIGKILL it (`delayMs` later, so
 * the kill lands at another point of the next edit). Returns the confirmed edit numbers.
 */
async function runAndKill(dir: string, start: number, want: number, delayMs = 0): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/kill-writer.ts'), dir, String(start), '800'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const confirmed: number[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let buf = '';
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`kill-writer too slow; stderr: ${stderr}`));
    }, 30_000);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ok (\d+)$/.exec(line);
        if (m) confirmed.push(Number(m[1]));
        if (confirmed.length === want) {
          if (delayMs > 0) setTimeout(() => child.kill('SIGKILL'), delayMs);
          else child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') res();
      else rej(new Error(`kill-writer exited with ${code}: ${stderr}`));
    });
  });
  return confirmed;
}

describe('kill test (real child process, SIGKILL mid-stream)', () => {
  it('every confirmed edit survives a SIGKILL, twice in a row', async () => {
    const dir = tmp;
    const first = await runAndKill(dir, 0, 25);
    expect(first.length).toBeGreaterThanOrEqual(25);
    // The second writer starts on whatever the first left (possibly a torn line) and goes on.
    const start2 = first.at(-1)! + 2;
    const second = await runAndKill(dir, start2, 25, 3);
    const warnings: string[] = [];
    const s = await LabelStore.open(dir, { onWarning: (m) => warnings.push(m) });
    open.push(s);
    for (const i of [...first, ...second]) {
      for (const j of [0, 399, 799]) expect(s.get(`e${i}/${j}.png`)?.label, `edit ${i}`).toBe(`L${i}`);
    }
    // Nothing beyond the edit in flight at the kill can exist.
    const lastConfirmed = second.at(-1)!;
    expect(s.get(`e${lastConfirmed + 2}/0.png`)).toBeUndefined();
    const edits = s.history().length;
    expect(edits).toBeGreaterThanOrEqual(first.length + second.length);
    expect(edits).toBeLessThanOrEqual(first.length + second.length + 2);
    console.log(`kill test: ${first.length} + ${second.length} confirmed edits, ${edits} in the journal, warnings: ${warnings.length}`);
  });
});

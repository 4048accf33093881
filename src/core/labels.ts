/**
 * The label journal of one project: which image has which label, with undo/redo that survives a restart.
 *
 * Files in the project folder:
 *   labels.json     snapshot: { format, version, seq, labels: { path: record }, undo: Edit[], redo: Edit[] }
 *                   `seq` is the number of the last journal entry the snapshot includes.
 *   labels.journal  JSON lines appended after the snapshot, one per change, each with its sequence number `s`:
 *                     {"s":7,"op":"edit","e":{...edit...}}   apply an edit (clears redo)
 *                     {"s":8,"op":"undo","id":7}             revert the newest edit (moves it to redo)
 *                     {"s":9,"op":"redo","id":7}             re-apply the newest undone edit
 *
 * Durability: every change is appended with one write on an fd opened for append and fdatasync'd before its
 * promise resolves; only then is the in-memory state updated. A line without its final newline (a write cut
 * short by a kill or a power loss) was never confirmed: it is dropped with a warning and cut off the file so
 * the next append starts on a clean line.
 *
 * Compaction writes a new labels.json atomically (it records the sequence number it includes and keeps the
 * last MAX_UNDO edits for undo/redo) and then truncates the journal. A crash between the two steps is safe:
 * replay skips journal entries whose number is already in the snapshot, so nothing is lost or applied twice.
 *
 * An edit stores the previous record of every path it touched, which is all that undo needs; redo derives the
 * new records from the edit itself.
 *
 * One process should write a project's labels at a time. Before each change the store checks whether the
 * files were changed by someone else since it read them (another process appended or compacted) and reloads
 * them first, so taking turns (the app open while the CLI labels) is safe; truly simultaneous writes are not.
 */
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describeIssues, isCode, writeJsonAtomic } from './fsutil.js';
import { UserError } from './types.js';

export type LabelSource = 'cluster' | 'selection' | 'single' | 'import';
export const LABEL_SOURCES: readonly LabelSource[] = ['cluster', 'selection', 'single', 'import'];

export interface LabelRecord {
  label: string;
  source: LabelSource;
  /** ISO time of the change that set this record. */
  at: string;
}

export type EditKind = 'assign' | 'clear' | 'rename' | 'delete';

/** What one edit did, as returned by assign/renameLabel/deleteLabel/undo/redo and listed by history(). */
export interface EditSummary {
  /** Sequence number of the edit in the journal (stable across re-opens and compaction); 0 when nothing was recorded. */
  id: number;
  kind: EditKind;
  /** The label set (assign), the new name (rename), the removed label (delete); null for clear. */
  label: string | null;
  /** The old name (rename only). */
  from?: string;
  source?: LabelSource;
  note?: string;
  /** Number of images whose record changed. */
  count: number;
  at: string;
}

export const LABELS_FILE = 'labels.json';
export const JOURNAL_FILE = 'labels.journal';
/** Edits kept for undo (in memory, in the journal replay and in the snapshot). */
export const MAX_UNDO = 200;
export const MAX_LABEL_LENGTH = 200;
/** close() compacts when the journal has grown beyond this many entries or bytes. */
const COMPACT_ENTRIES = 1000;
const COMPACT_BYTES = 32 * 1024 * 1024;

const Source = z.enum(['cluster', 'selection', 'single', 'import']);
const Rec = z.object({ label: z.string(), source: Source, at: z.string() });
const Edit = z.object({
  id: z.number().int(),
  kind: z.enum(['assign', 'clear', 'rename', 'delete']),
  at: z.string(),
  /** assign: the label set; rename: the new name; delete: the removed label; clear: null. */
  label: z.string().nullable(),
  from: z.string().optional(),
  source: Source.optional(),
  note: z.string().optional(),
  paths: z.array(z.string()),
  /** Record of paths[i] before the edit (null = unlabeled). */
  before: z.array(Rec.nullable()),
});
type Edit = z.infer<typeof Edit>;
const Entry = z.discriminatedUnion('op', [
  z.object({ s: z.number().int().positive(), op: z.literal('edit'), e: Edit }),
  z.object({ s: z.number().int().positive(), op: z.literal('undo'), id: z.number().int() }),
  z.object({ s: z.number().int().positive(), op: z.literal('redo'), id: z.number().int() }),
]);
type Entry = z.infer<typeof Entry>;
const Snapshot = z.object({
  format: z.literal('clusterlens-labels'),
  version: z.literal(1),
  seq: z.number().int().nonnegative(),
  // Checked entry by entry in load(): z.record would drop a path named "__proto__".
  labels: z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object'),
  undo: z.array(Edit),
  redo: z.array(Edit),
});

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Validate and normalise a label name (trimmed; non-empty, at most 200 characters, no control characters). */
export function validateLabel(label: unknown): string {
  if (typeof label !== 'string') throw new UserError('a label must be text');
  const t = label.trim();
  if (t === '') throw new UserError('a label cannot be empty');
  if (t.length > MAX_LABEL_LENGTH) throw new UserError(`a label can have at most ${MAX_LABEL_LENGTH} characters (got ${t.length}): "${t.slice(0, 40)}…"`);
  if (CONTROL.test(t)) throw new UserError(`a label cannot contain control characters (tabs, newlines, …): ${JSON.stringify(t)}`);
  return t;
}

function validatePaths(paths: readonly string[]): string[] {
  if (!Array.isArray(paths)) throw new UserError('paths must be a list of image paths');
  const seen = new Set<string>();
  for (const p of paths) {
    if (typeof p !== 'string' || p === '') throw new UserError(`invalid image path: ${JSON.stringify(p)}`);
    seen.add(p);
  }
  return [...seen];
}

/** The whole file behind `fd`, read by position (an append-mode fd's own position is not reliable). */
async function readAll(fd: FileHandle): Promise<Buffer> {
  const size = (await fd.stat()).size;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fd.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === size ? buf : buf.subarray(0, off);
}

function summarize(e: Edit): EditSummary {
  const s: EditSummary = { id: e.id, kind: e.kind, label: e.label, count: e.paths.length, at: e.at };
  if (e.from !== undefined) s.from = e.from;
  if (e.source !== undefined) s.source = e.source;
  if (e.note !== undefined) s.note = e.note;
  return s;
}

export interface LabelStoreOptions {
  /** Called with each warning (a dropped torn journal line); default: print to stderr. */
  onWarning?: (message: string) => void;
}

export class LabelStore {
  readonly dir: string;
  readonly snapshotPath: string;
  readonly journalPath: string;
  /** Warnings raised while loading (e.g. a torn last journal line that was dropped). */
  readonly warnings: string[] = [];

  private labels = new Map<string, LabelRecord>();
  private undoStack: Edit[] = [];
  private redoStack: Edit[] = [];
  private seq = 0;
  private snapshotSeq = 0;
  private journalEntries = 0;
  /** Bytes of the journal up to its last complete entry. */
  private journalSize = 0;
  /** Size of the journal file when last read or written by us (larger than journalSize when a torn line follows). */
  private fileSize = 0;
  private snapshotStamp = '';
  private fd: FileHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly onWarning: (message: string) => void;

  private constructor(dir: string, opts: LabelStoreOptions) {
    this.dir = dir;
    this.snapshotPath = join(dir, LABELS_FILE);
    this.journalPath = join(dir, JOURNAL_FILE);
    this.onWarning = opts.onWarning ?? ((m) => process.stderr.write(`warning: ${m}\n`));
  }

  /** Open the labels of the project in `dir`: load labels.json (if any) and replay labels.journal. */
  static async open(dir: string, opts: LabelStoreOptions = {}): Promise<LabelStore> {
    const store = new LabelStore(dir, opts);
    try {
      store.fd = await open(store.journalPath, 'a+');
    } catch (e) {
      if (isCode(e, 'ENOENT')) throw new UserError(`project folder not found: ${dir}`);
      if (isCode(e, 'EACCES', 'EPERM', 'EROFS')) throw new UserError(`cannot write the labels of ${dir}: permission denied`);
      throw e;
    }
    try {
      await store.load();
    } catch (e) {
      await store.fd.close().catch(() => {});
      throw e;
    }
    return store;
  }

  get(path: string): LabelRecord | undefined {
    return this.labels.get(path);
  }

  all(): ReadonlyMap<string, LabelRecord> {
    return this.labels;
  }

  get size(): number {
    return this.labels.size;
  }

  /** label → number of images with it. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.labels.values()) out.set(r.label, (out.get(r.label) ?? 0) + 1);
    return out;
  }

  canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Edits that can be undone, oldest first (at most MAX_UNDO). */
  history(): EditSummary[] {
    return this.undoStack.map(summarize);
  }

  /** Edits that can be redone, the next one to redo first. */
  redoHistory(): EditSummary[] {
    return [...this.redoStack].reverse().map(summarize);
  }

  /**
   * Give `label` to every path (null removes their labels). Resolves once the edit is fsync'd in the journal.
   * Returns a summary with count 0 (and records nothing) when there is nothing to change.
   */
  assign(paths: readonly string[], label: string | null, source: LabelSource, note?: string): Promise<EditSummary> {
    const name = label === null ? null : validateLabel(label);
    const list = validatePaths(paths);
    if (!LABEL_SOURCES.includes(source)) throw new UserError(`unknown label source: ${String(source)}`);
    return this.serial(async () => {
      await this.refreshIfChanged();
      const at = new Date().toISOString();
      const touched = name === null ? list.filter((p) => this.labels.has(p)) : list;
      const edit: Edit = {
        id: 0,
        kind: name === null ? 'clear' : 'assign',
        at,
        label: name,
        paths: touched,
        before: touched.map((p) => this.labels.get(p) ?? null),
      };
      if (name !== null) edit.source = source;
      if (note !== undefined) edit.note = note;
      return this.commitEdit(edit);
    });
  }

  /** Rename a label on every image that has it (merges into `to` if that label exists). */
  renameLabel(from: string, to: string): Promise<EditSummary> {
    const oldName = validateLabel(from);
    const newName = validateLabel(to);
    return this.serial(async () => {
      await this.refreshIfChanged();
      const at = new Date().toISOString();
      const touched = oldName === newName ? [] : this.pathsWith(oldName);
      return this.commitEdit({ id: 0, kind: 'rename', at, label: newName, from: oldName, paths: touched, before: touched.map((p) => this.labels.get(p) ?? null) });
    });
  }

  /** Remove a label from every image that has it. */
  deleteLabel(label: string): Promise<EditSummary> {
    const name = validateLabel(label);
    return this.serial(async () => {
      await this.refreshIfChanged();
      const at = new Date().toISOString();
      const touched = this.pathsWith(name);
      return this.commitEdit({ id: 0, kind: 'delete', at, label: name, paths: touched, before: touched.map((p) => this.labels.get(p) ?? null) });
    });
  }

  /** Revert the newest edit; null when there is nothing to undo. */
  undo(): Promise<EditSummary | null> {
    return this.serial(async () => {
      await this.refreshIfChanged();
      const e = this.undoStack.at(-1);
      if (!e) return null;
      const seq = this.seq + 1;
      await this.append({ s: seq, op: 'undo', id: e.id });
      this.applyEntry({ s: seq, op: 'undo', id: e.id });
      return summarize(e);
    });
  }

  /** Re-apply the newest undone edit; null when there is nothing to redo. */
  redo(): Promise<EditSummary | null> {
    return this.serial(async () => {
      await this.refreshIfChanged();
      const e = this.redoStack.at(-1);
      if (!e) return null;
      const seq = this.seq + 1;
      await this.append({ s: seq, op: 'redo', id: e.id });
      this.applyEntry({ s: seq, op: 'redo', id: e.id });
      return summarize(e);
    });
  }

  /** Fold the journal into labels.json (atomically, keeping the undo/redo history) and empty the journal. */
  compact(): Promise<void> {
    return this.serial(async () => {
      await this.refreshIfChanged();
      await this.compactNow();
    });
  }

  /** Finish pending writes, compact when the journal has grown large, and release the journal file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(async () => {
      if (this.journalEntries >= COMPACT_ENTRIES || this.journalSize >= COMPACT_BYTES) {
        await this.refreshIfChanged();
        await this.compactNow();
      }
    }).catch((e: unknown) => this.warn(`could not compact ${this.journalPath} (the journal is kept): ${(e as Error).message}`));
    this.closed = true;
    await this.fd?.close();
    this.fd = undefined;
  }

  // ---- internals ----

  private pathsWith(label: string): string[] {
    const out: string[] = [];
    for (const [p, r] of this.labels) if (r.label === label) out.push(p);
    return out;
  }

  /** Run `fn` after every earlier change on this store finished (changes never interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`the labels of ${this.dir} are closed`));
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Journal `edit` (computed from the current, refreshed state) and apply it; nothing is recorded when it touches no path (id 0). */
  private async commitEdit(edit: Edit): Promise<EditSummary> {
    if (edit.paths.length === 0) return summarize(edit);
    const seq = this.seq + 1;
    edit.id = seq;
    const entry: Entry = { s: seq, op: 'edit', e: edit };
    await this.append(entry);
    this.applyEntry(entry);
    return summarize(edit);
  }

  /** Append one journal line and fdatasync it; on failure cut the file back so no partial line stays. */
  private async append(entry: Entry): Promise<void> {
    const fd = this.fd;
    if (!fd) throw new Error(`the labels of ${this.dir} are closed`);
    const bytes = Buffer.from(JSON.stringify(entry) + '\n', 'utf8');
    if (this.fileSize !== this.journalSize) {
      // Cut off a torn last line (seen at load) so this entry starts on a clean line.
      await fd.truncate(this.journalSize);
      this.fileSize = this.journalSize;
    }
    try {
      await fd.writeFile(bytes);
      await fd.datasync();
    } catch (e) {
      await fd.truncate(this.journalSize).catch(() => {});
      if (isCode(e, 'ENOSPC')) throw new UserError(`the disk is full: could not save the label change in ${this.journalPath}`);
      throw e;
    }
    this.journalSize += bytes.length;
    this.fileSize = this.journalSize;
    this.journalEntries++;
  }

  /** Apply a journal entry to the in-memory state (used both for replay and after a confirmed append). */
  private applyEntry(entry: Entry): void {
    if (entry.op === 'edit') {
      this.applyEdit(entry.e, 'forward');
      this.undoStack.push(entry.e);
      if (this.undoStack.length > MAX_UNDO) this.undoStack.splice(0, this.undoStack.length - MAX_UNDO);
      this.redoStack = [];
    } else if (entry.op === 'undo') {
      const e = this.undoStack.pop();
      if (!e || e.id !== entry.id) throw new Error(`undo of edit ${entry.id} does not match the history`);
      this.applyEdit(e, 'back');
      this.redoStack.push(e);
    } else {
      const e = this.redoStack.pop();
      if (!e || e.id !== entry.id) throw new Error(`redo of edit ${entry.id} does not match the history`);
      this.applyEdit(e, 'forward');
      this.undoStack.push(e);
    }
    this.seq = entry.s;
  }

  private applyEdit(e: Edit, dir: 'forward' | 'back'): void {
    const { paths, before } = e;
    for (let i = 0; i < paths.length; i++) {
      let rec: LabelRecord | null;
      if (dir === 'back') rec = before[i];
      else if (e.kind === 'assign') rec = { label: e.label!, source: e.source ?? 'single', at: e.at };
      else if (e.kind === 'rename') rec = before[i] ? { label: e.label!, source: before[i]!.source, at: e.at } : null;
      else rec = null;
      if (rec) this.labels.set(paths[i], rec);
      else this.labels.delete(paths[i]);
    }
  }

  private async stamp(): Promise<string> {
    try {
      const s = await stat(this.snapshotPath);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if (isCode(e, 'ENOENT')) return 'none';
      throw e;
    }
  }

  /** Reload when another process appended to the journal or compacted since we read it. Returns true if reloaded. */
  private async refreshIfChanged(): Promise<boolean> {
    const fd = this.fd;
    if (!fd) throw new Error(`the labels of ${this.dir} are closed`);
    const size = (await fd.stat()).size;
    if (size === this.fileSize && (await this.stamp()) === this.snapshotStamp) return false;
    await this.load();
    return true;
  }

  /** (Re)build the state from labels.json and labels.journal. */
  private async load(): Promise<void> {
    this.labels = new Map();
    this.undoStack = [];
    this.redoStack = [];
    this.seq = 0;
    this.snapshotSeq = 0;
    this.journalEntries = 0;

    this.snapshotStamp = await this.stamp();
    if (this.snapshotStamp !== 'none') {
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(this.snapshotPath, 'utf8'));
      } catch (e) {
        throw new UserError(`${this.snapshotPath} is corrupt (${(e as Error).message}); restore it from a backup or move it away to start the labels over`);
      }
      const r = Snapshot.safeParse(raw);
      if (!r.success) throw new UserError(`${this.snapshotPath} is corrupt or from another version: ${describeIssues(r.error.issues)}`);
      for (const [p, rec] of Object.entries(r.data.labels)) {
        const ok = Rec.safeParse(rec);
        if (!ok.success) throw new UserError(`${this.snapshotPath} is corrupt: the label of ${JSON.stringify(p)} is invalid (${describeIssues(ok.error.issues)})`);
        this.labels.set(p, ok.data);
      }
      this.undoStack = r.data.undo;
      this.redoStack = r.data.redo;
      this.seq = this.snapshotSeq = r.data.seq;
    }

    const buf = await readAll(this.fd!);
    let pos = 0;
    let lineNo = 0;
    let valid = 0; // byte length of the journal up to the last good line
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      const end = nl === -1 ? buf.length : nl;
      lineNo++;
      const text = buf.toString('utf8', pos, end);
      const next = nl === -1 ? buf.length : nl + 1;
      const isLast = next >= buf.length;
      if (text.trim() === '') {
        pos = next;
        if (nl !== -1) valid = next;
        continue;
      }
      let entry: Entry | undefined;
      let why = '';
      if (nl === -1) why = 'no final newline (the write was cut short)';
      else {
        try {
          const r = Entry.safeParse(JSON.parse(text));
          if (r.success) entry = r.data;
          else why = describeIssues(r.error.issues);
        } catch (e) {
          why = (e as Error).message;
        }
      }
      if (!entry) {
        if (isLast) {
          this.warn(`${this.journalPath}: ignored an incomplete last line ${lineNo} (${why}); it was an unconfirmed change cut short by a crash`);
          break;
        }
        throw new UserError(`${this.journalPath} is corrupt at line ${lineNo} (${why}); move the file away to go back to the last compacted labels`);
      }
      if (entry.s <= this.snapshotSeq) {
        // Already included in labels.json (a crash between writing the snapshot and emptying the journal).
        pos = next;
        valid = next;
        continue;
      }
      if (entry.s !== this.seq + 1) {
        throw new UserError(`${this.journalPath} does not continue ${this.snapshotPath}: line ${lineNo} has change ${entry.s} but ${this.seq + 1} was expected`);
      }
      try {
        this.applyEntry(entry);
      } catch (e) {
        throw new UserError(`${this.journalPath} is inconsistent at line ${lineNo}: ${(e as Error).message}`);
      }
      this.journalEntries++;
      pos = next;
      valid = next;
    }
    // A torn tail is cut off just before our next append, not here: a process that only reads must never
    // truncate a line that another process may still be writing.
    this.journalSize = valid;
    this.fileSize = buf.length;
  }

  private async compactNow(): Promise<void> {
    const labels: Record<string, LabelRecord> = {};
    for (const [p, r] of this.labels) Object.defineProperty(labels, p, { value: r, enumerable: true, writable: true, configurable: true });
    const undo = this.undoStack.slice(-MAX_UNDO);
    await writeJsonAtomic(this.snapshotPath, { format: 'clusterlens-labels', version: 1, seq: this.seq, labels, undo, redo: this.redoStack });
    this.snapshotSeq = this.seq;
    this.snapshotStamp = await this.stamp();
    // labels.json now includes every journal entry (by sequence number), so emptying the journal is safe;
    // a crash right here leaves entries that replay skips.
    await this.fd!.truncate(0);
    await this.fd!.datasync();
    this.journalSize = 0;
    this.fileSize = 0;
    this.journalEntries = 0;
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.onWarning(message);
  }
}

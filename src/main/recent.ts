/** Recently opened projects, newest first, in one JSON file written atomically. */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../core/fsutil.js';
import { ProjectStore } from '../core/project.js';

export const RECENT_FILE = 'recent-projects.json';
export const MAX_RECENT = 20;

const RecentFile = z.object({
  version: z.literal(1),
  projects: z.array(z.object({ dir: z.string(), openedAt: z.string() })),
});
type RecentFile = z.infer<typeof RecentFile>;

export interface RecentProject {
  dir: string;
  openedAt: string;
}

export class RecentProjects {
  readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = join(stateDir, RECENT_FILE);
  }

  private async read(): Promise<RecentFile> {
    try {
      const r = RecentFile.safeParse(JSON.parse(await readFile(this.file, 'utf8')));
      if (r.success) return r.data;
    } catch {
      // Missing or corrupt: start a new list (it only holds conveniences).
    }
    return { version: 1, projects: [] };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Projects that still exist, newest first. */
  list(): Promise<RecentProject[]> {
    return this.serial(async () => (await this.read()).projects.filter((p) => ProjectStore.exists(p.dir)));
  }

  /** Put `dir` (absolute) at the top. */
  add(dir: string): Promise<void> {
    return this.serial(async () => {
      const cur = await this.read();
      const projects = [{ dir, openedAt: new Date().toISOString() }, ...cur.projects.filter((p) => p.dir !== dir)].slice(0, MAX_RECENT);
      if (!existsSync(dirname(this.file))) await mkdir(dirname(this.file), { recursive: true });
      await writeJsonAtomic(this.file, { version: 1, projects } satisfies RecentFile);
    });
  }
}

/**
 * `clusterlens serve [project-or-folder] [--project <dir>] [--port N]`: the desktop app's UI in an ordinary browser.
 *
 *   no argument                    start with no project (the UI's start screen)
 *   a project folder               open it
 *   an image folder + --project    analyze it into that project (progress in the UI)
 *
 * Prints the URL (with its token) as one line on stdout; logs go to stderr; SIGINT/SIGTERM stop cleanly.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ProjectStore } from '../core/project.js';
import { UserError } from '../core/types.js';
import { Session, toApiError } from '../main/session.js';
import { startServer } from '../main/server.js';

function portArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be a whole number from 0 to 65535 (0 = a free port).');
  return n;
}

export interface ServeOptions {
  port?: number;
  project?: string;
  /** Folder with the built renderer (default <package>/dist/renderer). */
  rendererDir?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the Clusterlens app to a web browser on 127.0.0.1 (prints the URL with its access token)')
    .argument('[project-or-folder]', 'a project folder to open, or an image folder to analyze (with --project)')
    .option('--project <dir>', 'analyze the image folder into this project folder')
    .option('--port <n>', 'port to listen on (0 = a free port)', portArg, 0)
    .action(async (target: string | undefined, o: ServeOptions) => {
      await serve(target, o);
    });
}

/** Run the server until SIGINT/SIGTERM. */
export async function serve(target: string | undefined, o: ServeOptions): Promise<void> {
  const log = (line: string) => process.stderr.write(line + '\n');
  const session = new Session({ mode: 'browser' });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    if (target !== undefined) {
      const dir = resolve(target);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`folder not found: ${dir}`);
      if (ProjectStore.exists(dir)) {
        if (o.project) throw new UserError(`${dir} is already a project: leave out --project`);
        await session.handle('project.open', { dir });
        log(`opened project ${dir}`);
      } else if (o.project) {
        const r = (await session.handle('analyze.start', { folder: dir, project: resolve(o.project) })) as { jobId: string };
        log(`analyzing ${dir} into ${resolve(o.project)} (job ${r.jobId}); follow the progress in the browser`);
      } else {
        throw new UserError(`${dir} is not a Clusterlens project (no project.json): to analyze its images give --project <dir>`);
      }
    } else if (o.project) {
      throw new UserError('--project needs an image folder to analyze: clusterlens serve <folder> --project <dir>');
    }
    session.onEvent((e) => {
      if (e.type === 'log') log(e.line);
      else if (e.type === 'job.done') log(`analysis done: ${e.state.images} images, ${e.state.clusters?.k ?? '?'} clusters`);
      else if (e.type === 'job.failed') log(`analysis ${e.cancelled ? 'cancelled' : `failed: ${e.message}`}`);
    });
    server = await startServer({ session, port: o.port ?? 0, rendererDir: o.rendererDir, log });
  } catch (e) {
    await session.close();
    if (e instanceof UserError) throw e;
    const err = toApiError(e);
    if (err.code === 'internal') throw e;
    throw new UserError(err.message);
  }

  process.stdout.write(server.url + '\n');
  log('serving on 127.0.0.1 only; press Ctrl+C to stop');

  await new Promise<void>((done) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      log(`${signal}: stopping`);
      void (async () => {
        try {
          await server!.close();
          await session.close();
        } finally {
          done();
        }
      })();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Entry point: pick the API (Electron preload or the HTTP client), then run the start → progress → workspace flow. */
import type { ApiEvent, ClusterlensApi, ProjectState, RunSettings } from '../shared/api.js';
import { createHttpApi } from './api-http.js';
import { clear, errorMessage, h, toast } from './dom.js';
import './globals.js';
import { ProgressView } from './progress.js';
import { StartView } from './start.js';
import { Workspace } from './workspace.js';

class App {
  private readonly root: HTMLElement;
  private readonly start: StartView;
  private readonly progress: ProgressView;
  private workspace: Workspace | null = null;
  private jobId: string | null = null;
  /** A job was requested but its id has not come back yet: adopt the first job event. */
  private awaitingJob = false;

  constructor(private readonly api: ClusterlensApi) {
    this.root = h('main.app');
    document.body.appendChild(this.root);
    this.start = new StartView({
      open: (dir) => void this.openProject(dir),
      analyze: (folder, project, settings) => void this.analyze(folder, project, settings),
      demo: () => void this.demo(),
    });
    this.progress = new ProgressView(() => void this.cancel());
    api.onEvent((ev) => this.onEvent(ev));
  }

  async init(): Promise<void> {
    this.show(this.start.el);
    try {
      const [info, recent] = await Promise.all([this.api.invoke('app.info', {}), this.api.invoke('recent.list', {})]);
      this.start.setInfo(info);
      this.start.setRecent(recent.projects);
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  private show(el: HTMLElement): void {
    clear(this.root);
    this.root.appendChild(el);
  }

  private async backToStart(): Promise<void> {
    this.workspace?.dispose();
    this.workspace = null;
    this.show(this.start.el);
    try {
      this.start.setRecent((await this.api.invoke('recent.list', {})).projects);
    } catch {
      /* the list is a convenience */
    }
  }

  private async openProject(dir: string): Promise<void> {
    try {
      await this.showWorkspace(await this.api.invoke('project.open', { dir }));
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  private async showWorkspace(state: ProjectState): Promise<void> {
    this.workspace?.dispose();
    const ws = new Workspace(this.api, plotly(), { close: () => void this.backToStart() });
    this.workspace = ws;
    this.show(ws.el);
    try {
      await ws.load(state);
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  private async analyze(folder: string, project: string, settings: RunSettings): Promise<void> {
    if (!folder || !project) {
      toast('Give both the image folder and the project folder', 'error');
      return;
    }
    await this.runJob(`Analyzing ${folder}`, () => this.api.invoke('analyze.start', { folder, project, settings }));
  }

  private async demo(): Promise<void> {
    await this.runJob('Preparing the demo', async () => {
      const r = await this.api.invoke('demo.open', {});
      if (!r.jobId && r.state) await this.showWorkspace(r.state);
      return { jobId: r.jobId };
    });
  }

  private async runJob(title: string, start: () => Promise<{ jobId: string | null }>): Promise<void> {
    this.progress.reset(title);
    this.awaitingJob = true;
    this.jobId = null;
    this.show(this.progress.el);
    try {
      const { jobId } = await start();
      if (jobId) this.jobId = jobId;
    } catch (err) {
      toast(errorMessage(err), 'error');
      this.show(this.start.el);
    } finally {
      this.awaitingJob = false;
    }
  }

  private async cancel(): Promise<void> {
    if (!this.jobId) return;
    try {
      await this.api.invoke('job.cancel', { jobId: this.jobId });
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  private onEvent(ev: ApiEvent): void {
    if (ev.type === 'labels.changed') {
      this.workspace?.onLabelsChanged(ev.state);
      return;
    }
    if (ev.type === 'clusters.changed') {
      this.workspace?.onClustersChanged(ev.state);
      return;
    }
    if (this.awaitingJob && !this.jobId) this.jobId = ev.jobId;
    if (ev.jobId !== this.jobId) return;
    if (ev.type === 'job.done') {
      this.jobId = null;
      void this.showWorkspace(ev.state);
    } else if (ev.type === 'job.failed') {
      this.jobId = null;
      toast(ev.cancelled ? 'Cancelled. Every finished step is kept in the project.' : `Analysis failed: ${ev.message}`, ev.cancelled ? 'info' : 'error');
      void this.backToStart();
    } else this.progress.handle(ev);
  }
}

function plotly() {
  if (!window.Plotly) throw new Error('plotly.min.js did not load');
  return window.Plotly;
}

function boot(): void {
  const api = window.clusterlens ?? createHttpApi();
  const app = new App(api);
  void app.init();
}

boot();

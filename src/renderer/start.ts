/** The start screen: open a project, analyze a folder (with run settings), recent projects, the demo. */
import type { ApiResults, RunSettings } from '../shared/api.js';
import { clear, h } from './dom.js';

export interface StartActions {
  open(dir: string): void;
  analyze(folder: string, project: string, settings: RunSettings): void;
  demo(): void;
}

export const DEFAULT_SETTINGS = { size: 32, latent: 32, epochs: 10, sample: 10000, k: 10, seed: 1 } as const;

export class StartView {
  readonly el: HTMLElement;
  private readonly recent: HTMLElement;
  private readonly about: HTMLElement;
  private readonly demoBtn: HTMLButtonElement;

  constructor(private readonly actions: StartActions) {
    const native = window.clusterlensNative;
    const pick = (input: HTMLInputElement) =>
      native?.pickFolder
        ? h('button.secondary', {
            type: 'button',
            onclick: async () => {
              const dir = await native.pickFolder?.();
              if (dir) input.value = dir;
            },
          }, 'Browse…')
        : null;

    const openDir = h('input#open-dir', { type: 'text', placeholder: '/path/to/project', 'aria-label': 'Project folder', spellcheck: 'false' });
    const openForm = h(
      'form.card#open-form',
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          if (openDir.value.trim()) actions.open(openDir.value.trim());
        },
      },
      h('h2', {}, 'Open a project'),
      h('div.row', {}, openDir, pick(openDir), h('button.primary#open-btn', { type: 'submit' }, 'Open')),
    );

    const folder = h('input#analyze-folder', { type: 'text', placeholder: '/path/to/images', 'aria-label': 'Image folder', spellcheck: 'false', required: true });
    const project = h('input#analyze-project', { type: 'text', placeholder: '/path/to/new-project', 'aria-label': 'Project folder', spellcheck: 'false', required: true });
    const num = (id: string, label: string, value: number, min: number, title: string) => {
      const input = h('input', { id, type: 'number', value, min, step: 1, title });
      return { input, el: h('label.setting', { title }, h('span', {}, label), input) };
    };
    const size = num('set-size', 'Image size (px)', DEFAULT_SETTINGS.size, 8, 'images are resized to n×n');
    const latent = num('set-latent', 'Latent size', DEFAULT_SETTINGS.latent, 2, 'size of the latent code');
    const epochs = num('set-epochs', 'Epochs', DEFAULT_SETTINGS.epochs, 1, 'training epochs');
    const sample = num('set-sample', 'Sample size', DEFAULT_SETTINGS.sample, 1, 'train on at most this many images');
    const k = num('set-k', 'Clusters (k)', DEFAULT_SETTINGS.k, 1, 'number of clusters');
    const seed = num('set-seed', 'Seed', DEFAULT_SETTINGS.seed, 0, 'same seed, same result');
    const method = h(
      'select#set-method',
      { title: 'how the clusters are made' },
      h('option', { value: 'auto', selected: true }, 'auto: merged k-means below 50 clusters, k-means from 50'),
      h('option', { value: 'merge' }, 'k-means, then merged along neighbours'),
      h('option', { value: 'kmeans' }, 'k-means'),
    );
    const mapStyle = h(
      'select#set-map',
      { title: 'the t-SNE map: exaggeration 2 draws tighter, better separated groups; 1 is classic t-SNE' },
      h('option', { value: '2', selected: true }, 'separated groups (exaggeration 2)'),
      h('option', { value: '1' }, 'classic t-SNE'),
    );
    const features = h(
      'select#set-features',
      { title: 'what the map is made from: the shape descriptor (histograms of oriented gradients) next to the codes makes purer small clusters; the codes alone match classes better with few clusters' },
      h('option', { value: 'auto', selected: true }, 'auto: codes + shape from 20 clusters'),
      h('option', { value: 'codes' }, 'autoencoder codes'),
      h('option', { value: 'codes+hog' }, 'codes + shape descriptor (HOG)'),
    );
    const suggest = h('input#set-suggest', { type: 'checkbox' });
    suggest.addEventListener('change', () => (k.input.disabled = suggest.checked));
    const analyzeForm = h(
      'form.card#analyze-form',
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const int = (i: HTMLInputElement) => Number.parseInt(i.value, 10);
          const settings: RunSettings = {
            size: int(size.input),
            latent: int(latent.input),
            epochs: int(epochs.input),
            sample: int(sample.input),
            seed: int(seed.input),
            k: suggest.checked ? 'suggest' : int(k.input),
            clusterMethod: method.value === 'kmeans' ? 'kmeans' : method.value === 'merge' ? 'merge' : 'auto',
            mapExaggeration: Number(mapStyle.value),
            mapFeatures: features.value === 'codes' ? 'codes' : features.value === 'codes+hog' ? 'codes+hog' : 'auto',
          };
          actions.analyze(folder.value.trim(), project.value.trim(), settings);
        },
      },
      h('h2', {}, 'Analyze a folder of images'),
      h('label.field', {}, h('span', {}, 'Images'), h('div.row', {}, folder, pick(folder))),
      h('label.field', {}, h('span', {}, 'Project'), h('div.row', {}, project, pick(project))),
      h(
        'details.settings',
        {},
        h('summary', {}, 'Run settings'),
        h('div.settings-grid', {}, size.el, latent.el, epochs.el, sample.el, k.el, h('label.setting.check', {}, suggest, h('span', {}, 'suggest k')), seed.el, h('label.setting', {}, h('span', {}, 'Clusters by'), method), h('label.setting', {}, h('span', {}, 'Map'), mapStyle), h('label.setting', {}, h('span', {}, 'Map made from'), features)),
      ),
      h('div.row.end', {}, h('button.primary#analyze-btn', { type: 'submit' }, 'Analyze')),
    );

    this.demoBtn = h('button.secondary#demo-btn', { type: 'button', onclick: () => actions.demo() }, 'Try the demo') as HTMLButtonElement;
    this.recent = h('ul.recent');
    this.about = h('p.about');
    this.el = h(
      'section.start-screen',
      {},
      h('header.hero', {}, h('h1', {}, 'Clusterlens'), h('p', {}, 'Turn a folder of images into a labeled dataset: map, cluster, label, export.'), this.demoBtn, this.about),
      h('div.start-grid', {}, h('div.col', {}, openForm, analyzeForm), h('div.card.col', {}, h('h2', {}, 'Recent projects'), this.recent)),
    );
  }

  setInfo(info: ApiResults['app.info']): void {
    this.about.textContent = `v${info.version} · ${info.mode}${info.backend ? ` · ${info.backend}` : ''}`;
    this.demoBtn.disabled = !info.demoAvailable;
    if (!info.demoAvailable) this.demoBtn.title = 'The demo set is not available in this build';
  }

  setRecent(projects: ApiResults['recent.list']['projects']): void {
    clear(this.recent);
    if (projects.length === 0) this.recent.appendChild(h('li.muted', {}, 'No recent projects yet.'));
    for (const p of projects) {
      const when = new Date(p.openedAt);
      this.recent.appendChild(
        h(
          'li',
          {},
          h('button.link', { type: 'button', title: p.dir, onclick: () => this.actions.open(p.dir) }, p.dir),
          h('span.muted', {}, Number.isNaN(when.getTime()) ? '' : when.toLocaleString()),
        ),
      );
    }
  }
}

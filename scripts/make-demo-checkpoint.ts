/**
 * Trains the demo set's autoencoder once and stores it in models/demo/checkpoint/ with training.json, so that
 * `clusterlens demo` and the app's "Try the demo" open in seconds instead of training.
 * Run: npx tsx scripts/make-demo-checkpoint.ts
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze, modelKey } from '../src/core/pipeline.js';
import { ProjectStore } from '../src/core/project.js';
import { ensureDemoFolder, DEMO_CHECKPOINT, DEMO_SETTINGS } from '../src/core/demo.js';

const demo = await ensureDemoFolder();
const project = await mkdtemp(join(tmpdir(), 'clusterlens-demo-checkpoint-'));
await analyze({ folder: demo.imagesDir, project, ...DEMO_SETTINGS }, { onLog: (l) => console.error(l) });
const store = await ProjectStore.open(project);
const m = store.manifest;
await rm(DEMO_CHECKPOINT, { recursive: true, force: true });
await cp(store.path('model'), DEMO_CHECKPOINT, { recursive: true });
const { key: _key, ...model } = m.model!;
await writeFile(join(DEMO_CHECKPOINT, 'training.json'), JSON.stringify({ key: modelKey(m.settings, m.channels), model }, null, 2) + '\n');
console.log(`wrote ${DEMO_CHECKPOINT} (final loss ${m.model!.finalLoss.toPrecision(4)})`);
await rm(project, { recursive: true, force: true });

/**
 * A colour dataset with categories, built from the npm registry: the Noto emoji images of the npm package
 * emoji-datasource-google@16.0.0 (img/google/64/*.png, 64×64 RGBA) with each emoji's `category` from its emoji.json.
 * Only the base emoji are used (not the skin-tone variations), and the 'Component' category (5 skin-tone and hair
 * swatches) is left out: 1,906 images in 9 categories (Smileys & Emotion, People & Body, Animals & Nature, Food &
 * Drink, Travel & Places, Activities, Objects, Symbols, Flags). Fetched once with `npm pack` into the cache folder.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../src/core/demo.js';
import { buildOnce } from './fashion-mnist.js';

const run = promisify(execFile);
export const EMOJI_PACKAGE = 'emoji-datasource-google@16.0.0';

export interface LabeledFolder {
  dir: string;
  n: number;
  /** path (relative) → class index into `classes` */
  truth: Map<string, number>;
  classes: string[];
}

interface EmojiEntry {
  image: string;
  category: string;
  has_img_google?: boolean;
}

export async function emojiPngs(): Promise<LabeledFolder> {
  const root = join(cacheDir(), 'bench-emoji-google-16.0.0');
  const dir = join(root, 'images');
  await buildOnce(root, async (tmp) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const { stdout } = await run(npm, ['pack', EMOJI_PACKAGE, '--pack-destination', tmp, '--silent'], { shell: process.platform === 'win32' });
    const tgz = join(tmp, stdout.trim().split('\n').pop()!);
    await run('tar', ['xzf', tgz, '-C', tmp, 'package/emoji.json', 'package/img/google/64']);
    const entries = JSON.parse(await readFile(join(tmp, 'package', 'emoji.json'), 'utf8')) as EmojiEntry[];
    const src = join(tmp, 'package', 'img', 'google', '64');
    const available = new Set(await readdir(src));
    const rows: string[] = ['path,label'];
    for (const e of entries) {
      if (e.category === 'Component' || e.has_img_google === false || !available.has(e.image)) continue;
      await copyFile(join(src, e.image), join(tmp, 'images', e.image));
      rows.push(`${e.image},"${e.category}"`);
    }
    await writeFile(join(tmp, 'truth.csv'), rows.join('\n') + '\n');
    await rm(join(tmp, 'package'), { recursive: true, force: true });
    await rm(tgz, { force: true });
    return `built the emoji dataset (${rows.length - 1} images, ${EMOJI_PACKAGE}) in ${root}`;
  });
  const lines = (await readFile(join(root, 'truth.csv'), 'utf8')).trim().split('\n').slice(1);
  const pairs = lines.map((l) => {
    const comma = l.indexOf(',');
    return [l.slice(0, comma), l.slice(comma + 1).replace(/^"|"$/g, '')] as const;
  });
  const classes = [...new Set(pairs.map((p) => p[1]))].sort();
  const truth = new Map(pairs.map(([path, label]) => [path, classes.indexOf(label)]));
  return { dir, n: pairs.length, truth, classes };
}

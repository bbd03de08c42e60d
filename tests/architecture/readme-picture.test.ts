import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The README's "Inside: from socket to publish" picture names folders and files; this keeps it from rotting.
const ROOT = resolve(import.meta.dirname, '../..');
const HEADING = '## Inside: from socket to publish';

interface Box {
  /** A folder (`src/outbox/`) or a file (`src/pipeline/dispatcher.ts`). */
  title: string;
  /** The text inside the box, one string per line. */
  body: string[];
}

/** The first fenced block after `heading`. */
export function pictureAfter(markdown: string, heading: string): string {
  const start = markdown.indexOf(`${heading}\n`);
  if (start < 0) throw new Error(`no "${heading}" in the README`);
  const block = /```\w*\n([\s\S]*?)\n```/.exec(markdown.slice(start));
  if (block === null) throw new Error(`no picture under "${heading}"`);
  return block[1]!;
}

/** Every `┌─ title ─…┐` box with the lines between its top and its bottom, boxes side by side included. */
export function boxes(picture: string): Box[] {
  const lines = picture.split('\n');
  const found: Box[] = [];
  lines.forEach((line, row) => {
    for (const top of line.matchAll(/┌─ (\S+) [─┬┴]+┐/g)) {
      const left = top.index;
      const right = left + top[0].length - 1;
      const body: string[] = [];
      for (let r = row + 1; r < lines.length && lines[r]![left] !== '└'; r++) body.push(lines[r]!.slice(left + 1, right).trim());
      found.push({ title: top[1]!, body });
    }
  });
  return found;
}

/** Paths a box names that do not exist: its title, and each file (`x.ts`, `dc09/x.ts`) or folder (`routes/`) inside. */
export function missingPaths(box: Box, exists: (path: string, kind: 'file' | 'folder') => boolean): string[] {
  const folder = box.title.endsWith('/') ? box.title : `${dirname(box.title)}/`;
  const named: Array<[string, 'file' | 'folder']> = [[box.title, box.title.endsWith('/') ? 'folder' : 'file']];
  for (const line of box.body) {
    for (const [file] of line.matchAll(/[\w./-]+\.ts\b/g)) named.push([folder + file, 'file']);
    for (const [, sub] of line.matchAll(/(?:^|[\s(,;])([\w-]+\/)(?=[\s:,;)]|$)/g)) named.push([folder + sub!, 'folder']);
  }
  return named.filter(([path, kind]) => !exists(path, kind)).map(([path]) => path);
}

function existsInRepo(path: string, kind: 'file' | 'folder'): boolean {
  const full = join(ROOT, path);
  return existsSync(full) && (kind === 'folder' ? statSync(full).isDirectory() : statSync(full).isFile());
}

describe('the README picture of the data path', () => {
  const found = boxes(pictureAfter(readFileSync(join(ROOT, 'README.md'), 'utf8'), HEADING));

  it('has one box per folder on the path from socket to publish, and the side boxes', () => {
    expect(found.map((box) => box.title).sort()).toEqual(
      [
        'adapters/inputs/',
        'src/codecs/',
        'src/pipeline/',
        'src/classify/',
        'src/outbox/',
        'src/pipeline/dispatcher.ts',
        'adapters/outputs/',
        'src/assurance/',
        'adapters/api/',
      ].sort(),
    );
  });

  it('names only folders and files that exist', () => {
    expect(found.flatMap((box) => missingPaths(box, existsInRepo))).toEqual([]);
  });
});

describe('the picture checker itself', () => {
  it('reads side-by-side boxes and reports a file or folder that is gone', () => {
    const picture = [
      '┌─ src/outbox/ ───┴──────┐   ┌─ adapters/api/ ───────┐',
      '│ sqlite-outbox.ts: disk │   │ server.ts, routes/    │',
      '│ gone.ts                │   │ console/: web page    │',
      '└────────────────────────┘   └───────────────────────┘',
    ].join('\n');
    const found = boxes(picture);
    expect(found).toEqual([
      { title: 'src/outbox/', body: ['sqlite-outbox.ts: disk', 'gone.ts'] },
      { title: 'adapters/api/', body: ['server.ts, routes/', 'console/: web page'] },
    ]);
    const present = new Set(['src/outbox/', 'src/outbox/sqlite-outbox.ts', 'adapters/api/', 'adapters/api/server.ts', 'adapters/api/routes/']);
    expect(found.flatMap((box) => missingPaths(box, (path) => present.has(path)))).toEqual(['src/outbox/gone.ts', 'adapters/api/console/']);
  });
});

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `npm start` (and `prepare`) run scripts/build-if-changed.mjs: tsc only when a source is newer than the build. */
describe('build-if-changed', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-build-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function project(): void {
    mkdirSync(path.join(dir, 'scripts'), { recursive: true });
    mkdirSync(path.join(dir, 'src'), { recursive: true });
    copyFileSync(path.join(root, 'scripts/build-if-changed.mjs'), path.join(dir, 'scripts/build-if-changed.mjs'));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { outDir: 'dist', rootDir: '.', types: [] }, include: ['src/**/*.ts'] }));
    writeFileSync(path.join(dir, 'src/a.ts'), 'export const a: number = 1;\n');
  }
  const build = () => run(process.execPath, [path.join(dir, 'scripts/build-if-changed.mjs')]);

  it('compiles the first time, not again while nothing changed, and again after a source changed', async () => {
    project();
    expect((await build()).stderr).toContain('compiling');
    expect(existsSync(path.join(dir, 'dist/src/a.js'))).toBe(true);
    expect((await build()).stderr).toBe('');
    const later = new Date(Date.now() + 5_000);
    writeFileSync(path.join(dir, 'src/a.ts'), 'export const a: number = 2;\n');
    utimesSync(path.join(dir, 'src/a.ts'), later, later);
    expect((await build()).stderr).toContain('compiling');
  }, 60_000);

  it('does nothing in an installed package, which has no sources', async () => {
    rmSync(path.join(dir, 'src'), { recursive: true });
    expect((await build()).stderr).toBe('');
  });
});

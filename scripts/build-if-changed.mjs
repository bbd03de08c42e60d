#!/usr/bin/env node
// Compiles the TypeScript only when a source is newer than the last build, so `npm start` starts in a moment;
// `--always` compiles in any case (`npm run build`) and leaves the same stamp, so a start after it compiles nothing.
// In an installed package (no sources, dist/ shipped) there is nothing to build.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const inputs = ['src', 'adapters', 'tests', 'tsconfig.json', 'package.json'].map((p) => path.join(root, p));

function newestChange(file) {
  if (!existsSync(file)) return 0;
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  // Directories count too: a deleted source changes its directory's mtime.
  return readdirSync(file).reduce((newest, name) => Math.max(newest, newestChange(path.join(file, name))), stat.mtimeMs);
}

if (!existsSync(path.join(root, 'tsconfig.json')) || !existsSync(path.join(root, 'src'))) process.exit(0);
const always = process.argv.includes('--always');
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (!always && built >= Math.max(...inputs.map(newestChange))) process.exit(0);

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
if (!always) process.stderr.write('sources changed: compiling …\n');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
writeFileSync(stamp, `${new Date().toISOString()}\n`);

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * `npm pack`, then `npm install -g` of the tarball into a scratch prefix, from the npm cache where it can
 * (--prefer-offline: a machine that ran `npm ci` has every tarball). Install scripts are skipped to keep this
 * quick: the commands run here never open SQLite; the native build is what `npm ci` already proves.
 */
describe('npm install -g of the packed tarball', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('puts a working panelbridge on the PATH', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pb-global-'));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root });
    const tarball = path.join(dir, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
    const prefix = path.join(dir, 'global');
    await run('npm', ['install', '-g', tarball, '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir });
    const bin = path.join(prefix, 'bin', 'panelbridge');
    expect((await run(bin, ['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await run(bin, ['--help'])).stdout).toContain('Commands:');
    // A Contact ID burglary (a public test vector): the codecs and the catalog JSON are in the package.
    expect(JSON.parse((await run(bin, ['decode', '1234181131010158'])).stdout)).toMatchObject({ category: 'burglary' });
  }, 240_000);
});

import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
 * quick: the commands run here never open SQLite; the native build is what `npm ci` already proves. Skipping them
 * is also what npm 12 does without `--allow-scripts`, so `check` and `run` must name the unbuilt module.
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

    // better-sqlite3 without its build: an installation problem (70) naming the module, not dataDir's permissions (73).
    const state = path.join(dir, 'state');
    await mkdir(state);
    const config = path.join(dir, 'panelbridge.yaml');
    await writeFile(config, 'dataDir: ./var\ninputs: [{ type: dc09, name: ip, host: 127.0.0.1, port: 12715 }]\noutputs: [{ type: stdout, name: console }]\n');
    const check = spawnSync(bin, ['check', '--config', config, '--errors-only'], { cwd: state, encoding: 'utf8' });
    expect(check.status, check.stdout).toBe(70);
    expect(check.stdout).toMatch(/^error installation: the native module better-sqlite3 cannot be loaded .*--allow-scripts=better-sqlite3/m);
    const started = spawnSync(bin, ['run', '--config', config], { cwd: state, encoding: 'utf8', timeout: 20_000 });
    expect(started.status, started.stderr).toBe(70);
    expect(started.stderr).toMatch(/^panelbridge: the native module better-sqlite3 cannot be loaded /m);
    expect(started.stderr).not.toMatch(/make dataDir writable/);
  }, 240_000);
});

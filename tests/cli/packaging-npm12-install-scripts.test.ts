import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NATIVE_MODULES } from '../../adapters/system/native-modules.js';

/**
 * npm 12 blocks dependency install scripts unless allowed, global installs included; for `npm install -g` the
 * installed package's own `allowScripts` field is not consulted, only `--allow-scripts=` / the allow-scripts config
 * (npm/cli#9457, #9463; nodejs/citgm#1118). The README's `npm install --global … panelbridge-*.tgz` without it
 * left better-sqlite3 without its native module. tests/cli/global-install.test.ts installs that way
 * (--ignore-scripts) and checks that `check` and `run` name the module instead of blaming dataDir.
 */
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { allowScripts: Record<string, boolean> };

describe('installing the packed tarball as the README says', () => {
  it('every README `npm install --global` of the tarball (install and upgrade, also wrapped in prose) lets npm build the native modules', () => {
    const installs = [...README.matchAll(/npm install --global\b[^`]*?\.tgz/g)].map((m) => m[0].replace(/\s+/g, ' '));
    expect(installs.length).toBeGreaterThanOrEqual(3);
    const allowed = (line: string) => /--allow-scripts=(\S+)/.exec(line)?.[1]?.split(',') ?? [];
    expect(installs.filter((line) => NATIVE_MODULES.some((module) => !allowed(line).includes(module)))).toEqual([]);
  });

  it('the modules named are the dependencies the package allows to build', () => {
    expect([...NATIVE_MODULES].sort()).toEqual(Object.keys(PACKAGE.allowScripts).filter((name) => PACKAGE.allowScripts[name]).sort());
  });
});

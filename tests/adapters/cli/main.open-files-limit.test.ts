import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Under a low `ulimit -n` (a shell's, a container's, an old init's LimitNOFILE), Node's module loader, which reads
// the CLI's files many at a time, died with an EMFILE stack trace naming some library file (or a segfault). systemd
// and a person at a shell must both be told what to raise, before anything is loaded. (Below about 20 Node itself
// cannot start its threads.)
const main = fileURLToPath(new URL('../../../dist/adapters/cli/main.js', import.meta.url));
/** The CLI with `args`, its open-file limit (soft and hard: Node raises the soft one to the hard one) set to `limit`. */
const runWithOpenFiles = (limit: number, ...args: string[]) =>
  spawnSync('prlimit', [`--nofile=${limit}`, process.execPath, main, ...args], { encoding: 'utf8' });
const EX_CONFIG = 78;

describe('the CLI under a low open-file limit', () => {
  it.each([24, 64, 96])('at %i exits 78 at once with one line naming the limit and how to raise it', (limit) => {
    const result = runWithOpenFiles(limit, 'run', '--config', 'panelbridge.yaml');
    expect(result.status).toBe(EX_CONFIG);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^panelbridge: the process may open ${limit} files, it needs at least \\d+: raise LimitNOFILE \\(systemd\\) or ulimit -n\\n$`));
  });

  it('at the floor it starts as usual', () => {
    const result = runWithOpenFiles(256, '--version');
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
  });
});

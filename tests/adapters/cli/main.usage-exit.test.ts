import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// README: `check` exits "0 clean, 1 warnings only, 78 errors"; docs/replay.md: replay's 1 means "the events differ
// from --expect". A command line the CLI cannot parse (a missing --config, a mistyped option) is neither: commander's
// default exit status 1 made it read as "warnings only" / "events differ". It exits EX_USAGE (64), as `report` does
// for a bad site; `simulate` keeps its documented "could not run" status 2.
const main = fileURLToPath(new URL('../../../dist/adapters/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
const EX_USAGE = 64;

describe('CLI usage errors exit EX_USAGE, not a documented result status', () => {
  it('check without --config exits 64 (not 1, "warnings only")', () => {
    const result = run('check');
    expect(result.status).toBe(EX_USAGE);
    expect(result.stderr).toContain('--config');
  });

  it('replay with a mistyped option exits 64 (not 1, "events differ from --expect")', () => {
    expect(run('replay', 'capture.jsonl', '--config', 'x.yaml', '--expect', 'e.jsonl', '--ignor', 'id').status).toBe(EX_USAGE);
  });

  it('an unknown verb, and a verb group without its subcommand, exit 64', () => {
    expect(run('frobnicate').status).toBe(EX_USAGE);
    expect(run('audit').status).toBe(EX_USAGE);
  });

  it('a usage error inside a nested verb exits 64', () => {
    expect(run('token', 'create', '--bogus').status).toBe(EX_USAGE);
  });

  it('simulate keeps its own "could not run" status 2 for usage errors', () => {
    expect(run('simulate', '--count', 'many').status).toBe(2);
  });

  it('--help and --version still exit 0', () => {
    expect(run('--help').status).toBe(0);
    expect(run('check', '--help').status).toBe(0);
    expect(run('--version').status).toBe(0);
  });
});

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/gateway-process.js';

const run = promisify(execFile);
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** `script` gives the gateway a terminal on stderr while its stdout goes to a file, as `panelbridge run | jq` would. */
describe.skipIf(!hasScript)('logs on a terminal', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-tty-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are pretty and go to stderr, leaving stdout to the events', async () => {
    const config = path.join(dir, 'config.yaml');
    const stdout = path.join(dir, 'stdout.jsonl');
    writeFileSync(
      config,
      `dataDir: ${path.join(dir, 'var')}\ninputs:\n  - { type: dc09, name: panels, host: 127.0.0.1, port: 0 }\noutputs:\n  - { type: stdout, name: console }\n`,
    );
    const command = `timeout -s TERM 4 '${process.execPath}' '${CLI}' run --config '${config}' > '${stdout}'; exit 0`;
    const terminal = (await run('script', ['-qec', command, '/dev/null'], { timeout: 20_000 })).stdout;
    expect(terminal).toMatch(/INFO.*gateway ready/);
    expect(terminal).not.toContain('"level":30');
    expect(readFileSync(stdout, 'utf8')).toBe('');
  }, 30_000);
});

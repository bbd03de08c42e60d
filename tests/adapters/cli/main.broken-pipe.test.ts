import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const main = fileURLToPath(new URL('../../../dist/adapters/cli/main.js', import.meta.url));
const FRAME = String.raw`\n5C6C0032"ADM-CID"0001L0#1234[#1234|1122 01 005]\r`;

// `panelbridge decode < frames | head`: the reader leaves after its first bytes while decode still prints.
it('a printing command whose reader goes away ends quietly with 141, not a stack trace and a result status', async () => {
  const child = spawn(process.execPath, [main, 'decode'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  child.stdin.on('error', () => undefined);
  child.stdin.end(`${FRAME}\n`.repeat(20_000));
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect({ status, stderr }).toEqual({ status: 141, stderr: '' });
});

import type { Command } from 'commander';
import { vi } from 'vitest';
import { TOKEN_ENV } from '../../adapters/cli/api-client.js';

/** Runs an API command (`test`, `dead-letters` …) in this process with `token`; returns what it printed and its exit status. */
export async function runInProcess(command: Command, args: string[], token: string): Promise<{ out: string; err: string; exitCode: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  process.exitCode = 0;
  process.env[TOKEN_ENV] = token;
  try {
    await command.exitOverride().parseAsync(args, { from: 'user' });
  } finally {
    delete process.env[TOKEN_ENV];
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: out.join(''), err: err.join(''), exitCode };
}

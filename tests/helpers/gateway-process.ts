import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

// From tests/helpers under vitest, or from dist/tests/helpers when compiled (npm run bench).
export const CLI = new URL(
  import.meta.url.includes('/dist/tests/') ? '../../adapters/cli/main.js' : '../../dist/adapters/cli/main.js',
  import.meta.url,
).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI to its end, with no token from the environment: each command finds its own, as on a fresh box. */
export async function runCli(args: readonly string[], cwd?: string): Promise<CliResult> {
  const env = { ...process.env };
  delete env.PANELBRIDGE_TOKEN;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env, ...(cwd === undefined ? {} : { cwd }) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export function tempDir(label: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `panelbridge-${label}-`));
}

export function writeConfig(dir: string, config: unknown): string {
  const file = path.join(dir, 'panelbridge.yaml');
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

/** A `panelbridge run` child process; `ready` resolves on the "gateway ready" log line. */
export class GatewayProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly ready: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      const onLine = (line: string) => {
        if (line.includes('"gateway ready"')) resolve();
      };
      lines(child.stdout!, (l) => (this.stdout.push(l), onLine(l)));
      lines(child.stderr!, (l) => (this.stderr.push(l), onLine(l)));
      void this.exited.then(({ code }) => reject(new Error(`gateway exited (${code}) before ready:\n${this.stderr.join('\n')}`)));
    });
  }

  /** `nodeArgs` go to node itself, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  static spawn(configFile: string, extraArgs: string[] = [], cwd?: string, nodeArgs: string[] = []): GatewayProcess {
    return new GatewayProcess(
      spawn(process.execPath, [...nodeArgs, CLI, 'run', '--config', configFile, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) }),
    );
  }

  /** Events printed by a stdout output (JSON lines with a schema field). */
  events(): Array<Record<string, unknown>> {
    return this.stdout.filter((l) => l.includes('"schema":"panelbridge.event/1"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /**
   * The reasons of each supervisory event printed so far, joined, in order, but for the reports of API tokens created
   * (the first start of every test gateway creates an admin token and tells central).
   */
  supervisoryReasons(): string[] {
    return this.events()
      .filter((event) => event.category === 'supervisory')
      .map((event) => (event.reasons as string[]).join(' '))
      .filter((reasons) => !reasons.startsWith('API token '));
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) onLine(part);
  });
}

/** fetch with the admin token a gateway created in its dataDir (`{dataDir}/api-token`), as the CLI does. */
export function apiFetch(dataDir: string, url: string, init: RequestInit = {}): Promise<Response> {
  const token = readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim();
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` } });
}

import { Command, InvalidArgumentError } from 'commander';
import type { WindowView } from '../../../src/assurance/assurance.js';
import { EXIT_CONFIG, loadConfigFile, printIssues } from '../config.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8780';

interface ApiOptions {
  api?: string;
  config?: string;
  json?: boolean;
}

export type ApiTarget = { ok: true; url: string } | { ok: false; exitCode: number; lines: string[] };

/** The running gateway's API: `--api`, else the `api` section of `--config`, else the default address. */
export function apiTarget(options: ApiOptions): ApiTarget {
  if (options.api !== undefined) return { ok: true, url: options.api.replace(/\/+$/, '') };
  if (options.config === undefined) return { ok: true, url: DEFAULT_API_URL };
  const loaded = loadConfigFile(options.config);
  if (!loaded.ok) {
    const lines: string[] = [];
    printIssues(loaded.issues, (line) => lines.push(line));
    return { ok: false, exitCode: EXIT_CONFIG, lines };
  }
  const api = loaded.settings.api;
  if (api === undefined) return { ok: false, exitCode: EXIT_CONFIG, lines: [`error api: ${options.config} has no api section, so the gateway has no API to talk to`] };
  // A wildcard listen address is reached through the loopback address of the same family.
  const host = api.host === '0.0.0.0' ? '127.0.0.1' : api.host === '::' ? '::1' : api.host;
  return { ok: true, url: `http://${host.includes(':') ? `[${host}]` : host}:${api.port}` };
}

class CommandFailure extends Error {}

async function call(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new CommandFailure(`cannot reach the gateway API at ${base} (${cause}): is \`panelbridge run\` running with an api section?`);
  }
  const text = await response.text();
  const answer = text === '' ? {} : (JSON.parse(text) as unknown);
  if (!response.ok) {
    const error = (answer as { error?: { code?: string; message?: string } }).error;
    throw new CommandFailure(`${error?.code ?? response.status}: ${error?.message ?? response.statusText}`);
  }
  return answer;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? '(none)' : names.join(', ');
}

/** What an installer reads: the window, and which devices reported and which did not. */
export function describeWindow(window: WindowView): string[] {
  const state = window.closedAt === null ? `open until ${window.endsAt}` : `closed ${window.closedAt} (${window.closeReason})`;
  return [
    `test window ${window.id} for site ${window.site}: ${state}`,
    `  reported (${window.exercised.length}/${window.devices.length}): ${list(window.exercised)}`,
    `  not reported: ${list(window.notExercised)}`,
  ];
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a number of minutes above 0');
  return value;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

function withApiOptions(command: Command): Command {
  return command
    .option('--api <url>', `the running gateway's API (default ${DEFAULT_API_URL})`)
    .option('-c, --config <file>', "read the API's host and port from this configuration file")
    .option('--json', 'print the API answer as JSON');
}

/** Runs one API call and prints its answer; failures go to stderr with exit status 1 (78 for a bad --config). */
function action<A extends unknown[]>(run: (base: string, out: (line: string) => void, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const command = args.at(-1) as Command;
    const options = command.opts<ApiOptions>();
    const target = apiTarget(options);
    if (!target.ok) {
      for (const line of target.lines) process.stderr.write(line + '\n');
      process.exitCode = target.exitCode;
      return;
    }
    try {
      await run(target.url, (line) => process.stdout.write(line + '\n'), ...args);
    } catch (error) {
      if (!(error instanceof CommandFailure)) throw error;
      process.stderr.write(`error ${error.message}\n`);
      process.exitCode = 1;
    }
  };
}

/** `panelbridge test start|stop|list`: duress test windows on the running gateway, through its API. */
export function testCommand(): Command {
  const test = new Command('test').description('open, close and list duress test windows on the running gateway');

  test.addCommand(
    withApiOptions(new Command('start'))
      .description('open a test window: events from the site are published with test: true until it closes')
      .requiredOption('--site <id-or-name>', "the site under test: its id or its exact name")
      .requiredOption('--minutes <n>', 'how long the window stays open', positiveNumber)
      .option('--device <name>', 'a device under test, e.g. zone-5, user-12, door-lobby (repeatable or comma-separated; default: every duress device of the site)', collect)
      .action(
        action(async (base, out, options: ApiOptions & { site: string; minutes: number; device?: string[] }) => {
          const window = (await call(base, 'POST', '/test-windows', {
            site: options.site,
            minutes: options.minutes,
            ...(options.device === undefined ? {} : { devices: options.device }),
          })) as WindowView;
          if (options.json === true) return out(JSON.stringify(window));
          out(`test window ${window.id} open for site ${window.site} until ${window.endsAt}`);
          out(`  devices under test: ${list(window.devices)}`);
          out(`  close it early with: panelbridge test stop ${window.id}`);
        }),
      ),
  );

  test.addCommand(
    withApiOptions(new Command('stop'))
      .description('close a test window now and show which devices reported')
      .argument('<id>', 'the window id printed by `test start`')
      .action(
        action(async (base, out, id: string, options: ApiOptions) => {
          const window = (await call(base, 'DELETE', `/test-windows/${encodeURIComponent(id)}`)) as WindowView;
          if (options.json === true) return out(JSON.stringify(window));
          for (const line of describeWindow(window)) out(line);
        }),
      ),
  );

  test.addCommand(
    withApiOptions(new Command('list'))
      .description('list open test windows with the devices that reported so far')
      .option('--all', 'include recently closed windows')
      .action(
        action(async (base, out, options: ApiOptions & { all?: boolean }) => {
          const { windows } = (await call(base, 'GET', `/test-windows${options.all === true ? '?all=1' : ''}`)) as { windows: WindowView[] };
          if (options.json === true) return out(JSON.stringify(windows));
          if (windows.length === 0) return out(options.all === true ? 'no test windows' : 'no open test windows');
          for (const window of windows) for (const line of describeWindow(window)) out(line);
        }),
      ),
  );
  return test;
}

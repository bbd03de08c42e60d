import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readAdminToken } from '../api/tokens.js';
import { redactUrlCredentials } from '../system/redact.js';
import { terminalText } from '../system/terminal-text.js';
import { DEFAULT_DATA_DIR, EXIT_CONFIG, EXIT_IOERR, EXIT_NOINPUT, EXIT_NOPERM, EXIT_PROTOCOL, EXIT_TEMPFAIL, EXIT_UNAVAILABLE, EXIT_USAGE, loadConfigFile, printIssues } from './config.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8780';
export const TOKEN_ENV = 'PANELBRIDGE_TOKEN';

export interface ApiOptions {
  api?: string;
  config?: string;
  tokenFile?: string;
  json?: boolean;
}

export type ApiTarget = { ok: true; url: string; token: string | undefined } | { ok: false; exitCode: number; lines: string[] };

/**
 * The running gateway's API and the token to call it with. The address: `--api`, else the `api` section of
 * `--config`, else the default. The token: `--token-file`, else $PANELBRIDGE_TOKEN, else the admin token the
 * gateway created in the dataDir of `--config` (or of the default `./var`).
 */
export function apiTarget(options: ApiOptions): ApiTarget {
  if (options.api !== undefined) {
    const problem = apiUrlProblem(options.api);
    if (problem !== undefined) return { ok: false, exitCode: EXIT_USAGE, lines: [`error --api ${redactUrlCredentials(options.api)} ${problem}`] };
  }
  let token: string | undefined;
  try {
    token = options.tokenFile === undefined ? process.env[TOKEN_ENV] : readFileSync(options.tokenFile, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return { ok: false, exitCode: EXIT_NOINPUT, lines: [`error --token-file ${options.tokenFile} cannot be read (${code})`] };
  }
  if (options.config === undefined) {
    token ??= readAdminToken(path.resolve(DEFAULT_DATA_DIR));
    return { ok: true, url: (options.api ?? DEFAULT_API_URL).replace(/\/+$/, ''), token };
  }
  const loaded = loadConfigFile(options.config);
  if (!loaded.ok) {
    const lines: string[] = [];
    printIssues(loaded.issues, (line) => lines.push(line));
    return { ok: false, exitCode: EXIT_CONFIG, lines };
  }
  token ??= readAdminToken(loaded.settings.dataDir);
  if (options.api !== undefined) return { ok: true, url: options.api.replace(/\/+$/, ''), token };
  const api = loaded.settings.api;
  if (api === undefined) return { ok: false, exitCode: EXIT_CONFIG, lines: [`error api: ${options.config} has no api section, so the gateway has no API to talk to`] };
  // A wildcard listen address is reached through the loopback address of the same family.
  const host = api.host === '0.0.0.0' ? '127.0.0.1' : api.host === '::' ? '::1' : api.host;
  const scheme = api.tls === undefined ? 'http' : 'https';
  return { ok: true, url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${api.port}`, token };
}

/**
 * Why `--api` cannot be called, if it cannot: an address without http(s) (`localhost:8780`) is no URL fetch can
 * reach, and one with a user or password is refused by fetch, whose message would print the password.
 */
function apiUrlProblem(api: string): string | undefined {
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    return 'is not a URL: give it as http://HOST:PORT or https://HOST:PORT';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'is not a URL: give it as http://HOST:PORT or https://HOST:PORT';
  if (url.username !== '' || url.password !== '') return 'holds a user or password: the API takes its token from --token-file or $' + TOKEN_ENV;
  return undefined;
}

export class CommandFailure extends Error {
  constructor(
    message: string,
    /** The command's exit status: 1 for an answer that is a result (ALREADY_ACKNOWLEDGED), a sysexits code otherwise. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * The exit status for an API error answer: the command named nothing the gateway knows or gave a bad value (400, 404:
 * as `report` does for an unknown site), the token was refused or its role may not (401, 403), the gateway could not
 * serve (5xx), or refuses for now (429: the address is locked out after failed token checks, or every console session is
 * taken); any other refusal (409: already acknowledged) is the command's result.
 */
function exitStatusOf(httpStatus: number): number {
  if (httpStatus === 400 || httpStatus === 404) return EXIT_USAGE;
  if (httpStatus === 401 || httpStatus === 403) return EXIT_NOPERM;
  if (httpStatus === 429) return EXIT_TEMPFAIL;
  if (httpStatus >= 500) return EXIT_UNAVAILABLE;
  return 1;
}

export type ApiCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

/**
 * `call` for the commands: the answer, or a CommandFailure. A 503 CONTROL_NOT_STORED with the action's `result` is the
 * action done (the window open, the incident acknowledged): its result is returned to print as done, and `notStored`
 * is told why the command must still exit 74.
 */
function caller(target: { url: string; token: string | undefined }, notStored: (message: string) => void): ApiCall {
  return async (method, path, body) => {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${target.url}${path}`, {
        method,
        headers: {
          ...(target.token === undefined ? {} : { authorization: `Bearer ${target.token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      text = await response.text();
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CommandFailure(`cannot reach the gateway API at ${target.url} (${cause}): is \`panelbridge run\` running with an api section?`, EXIT_UNAVAILABLE);
    }
    let answer: unknown;
    try {
      answer = text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      // A proxy's error page says only its status; a success that is not JSON is not the gateway's API.
      if (!response.ok) answer = {};
      else throw new CommandFailure(`${target.url} answered with ${response.headers.get('content-type') ?? 'no content type'}, not JSON: is it the gateway's API?`, EXIT_PROTOCOL);
    }
    if (!response.ok) {
      const { error, result } = answer as { error?: { code?: string; message?: string }; result?: unknown };
      if (error?.code === 'CONTROL_NOT_STORED') {
        const message = `${error.code}: ${error.message ?? response.statusText}`;
        if (result === undefined) throw new CommandFailure(message, EXIT_IOERR);
        notStored(message);
        return result;
      }
      const hint =
        response.status === 401 ? ` (give --config FILE to use the gateway's own token, --token-file, or $${TOKEN_ENV})` : '';
      throw new CommandFailure(`${error?.code ?? response.status}: ${error?.message ?? response.statusText}${hint}`, exitStatusOf(response.status));
    }
    return answer;
  };
}

export function withApiOptions(command: Command): Command {
  return command
    .option('--api <url>', `the running gateway's API (default ${DEFAULT_API_URL})`)
    .option('-c, --config <file>', "read the API's address, and the token the gateway created, from this configuration")
    .option('--token-file <file>', `a file holding the API token (else $${TOKEN_ENV}, else the gateway's own token)`)
    .option('--json', 'print the API answer as JSON');
}

/**
 * Runs API calls and prints their answer; a failure goes to stderr with its exit status (see exitStatusOf; 78 for a bad
 * --config). An action done whose event for central is not stored yet prints as done, warns and exits 74 (EX_IOERR).
 * Every line is printed through terminalText: answers carry text panels sent and notes people wrote.
 */
export function apiAction<A extends unknown[]>(run: (call: ApiCall, out: (line: string) => void, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const command = args.at(-1) as Command;
    const target = apiTarget(command.opts<ApiOptions>());
    if (!target.ok) {
      for (const line of target.lines) process.stderr.write(line + '\n');
      process.exitCode = target.exitCode;
      return;
    }
    let notStored: string | undefined;
    try {
      await run(caller(target, (message) => (notStored = message)), (line) => process.stdout.write(terminalText(line) + '\n'), ...args);
    } catch (error) {
      if (!(error instanceof CommandFailure)) throw error;
      process.stderr.write(`error ${terminalText(error.message)}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    if (notStored === undefined) return;
    process.stderr.write(`warning ${terminalText(notStored)}\n`);
    process.exitCode = EXIT_IOERR;
  };
}

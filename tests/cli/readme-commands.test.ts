import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/gateway-process.js';

const run = promisify(execFile);
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/**
 * Every `panelbridge …` command the README shows, from shell blocks (`$ panelbridge`, `npx panelbridge`,
 * `sudo -u … panelbridge`) and from inline code: its verbs must exist and every --option it uses must be one the
 * verb's --help lists. The commands are not run (they need a gateway, a panel, a serial port).
 */
function readmeCommands(markdown: string): string[] {
  const commands = new Set<string>();
  for (const line of shellLines(markdown)) {
    if (/^\s*#/.test(line)) continue;
    // Each command of the line (`a && b`, `a | b`), without its prompt, sudo, env assignments or npx.
    for (const segment of line.replace(/\s+#.*$/, '').replace(/^\s*\$ /, '').split(/&&|\|\||;|\|/)) {
      const found = /^\s*(?:sudo(?: -u \S+)? )?(?:[A-Z_]+=\S+ )*(?:npx )?panelbridge(?: (.*))?$/.exec(segment);
      if (found !== null) commands.add(`panelbridge ${found[1] ?? ''}`.trim());
    }
  }
  for (const span of markdown.matchAll(/`(?:npx )?panelbridge ([^`]+)`/g)) commands.add(`panelbridge ${span[1]!.trim()}`);
  return [...commands];
}

/** The lines of fenced shell blocks (```sh, ```bash, ```console or no language). */
function shellLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const opening = /^```(\S*)\s*$/.exec(line);
    if (opening !== null) {
      fence = fence === undefined ? opening[1]! : undefined;
      continue;
    }
    if (fence !== undefined && ['', 'sh', 'bash', 'shell', 'console'].includes(fence)) lines.push(line);
  }
  return lines;
}

/** Shell-like words: quotes removed, `\|` (a table's escaped bar) kept as a bar. */
function words(command: string): string[] {
  return [...command.replace(/\\\|/g, '|').matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0]);
}

const helpCache = new Map<string, Promise<string>>();
function help(verbs: readonly string[]): Promise<string> {
  const key = verbs.join(' ');
  let text = helpCache.get(key);
  if (text === undefined) {
    text = run(process.execPath, [CLI, ...verbs, '--help']).then((r) => r.stdout);
    helpCache.set(key, text);
  }
  return text;
}

/** The subcommand names a help text lists under "Commands:". */
function subcommands(helpText: string): Set<string> {
  const section = helpText.split(/^Commands:$/m)[1] ?? '';
  return new Set([...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!));
}

async function problems(command: string): Promise<string[]> {
  const [, ...rest] = words(command);
  // `npx panelbridge …` in prose names the command, it is not an example.
  if (rest.every((w) => w === '…' || w === '...')) return [];
  const verbs: string[] = [];
  for (const word of rest) {
    // `start|stop|list` in a table names several subcommands: the first is checked, the others below.
    const candidate = word.split('|')[0]!;
    if (!subcommands(await help(verbs)).has(candidate)) break;
    verbs.push(candidate);
    for (const alternative of word.split('|').slice(1))
      if (!subcommands(await help(verbs.slice(0, -1))).has(alternative)) return [`no command ${alternative}`];
  }
  if (verbs.length === 0) return rest.some((w) => w === '--help' || w === '--version') ? [] : [`no command in "${command}"`];
  const options = await help(verbs);
  return rest
    .flatMap((w) => w.replace(/^[[(]+/, '').split('|'))
    .map((w) => /^(--[a-z][a-z0-9-]*)/.exec(w)?.[1])
    .filter((flag): flag is string => flag !== undefined && flag !== '--help' && !new RegExp(`(^|[ ,])${flag}\\b`, 'm').test(options))
    .map((flag) => `${verbs.join(' ')} has no option ${flag}`);
}

describe('README command examples', () => {
  const commands = readmeCommands(README);

  it('finds the examples (quick start, reference, operations)', () => {
    expect(commands.length).toBeGreaterThan(10);
    expect(commands.some((c) => c.startsWith('panelbridge simulate'))).toBe(true);
  });

  it('uses only commands and options the CLI has', async () => {
    const found: Array<{ command: string; problems: string[] }> = [];
    for (const command of commands) {
      const issues = await problems(command);
      if (issues.length > 0) found.push({ command, problems: issues });
    }
    expect(found).toEqual([]);
  }, 120_000);

  it('catches a verb or an option the CLI does not have', async () => {
    expect(await problems('panelbridge frobnicate --config x')).not.toEqual([]);
    expect(await problems('panelbridge decode --no-such-option FRAME')).toEqual(['decode has no option --no-such-option']);
  }, 60_000);
});

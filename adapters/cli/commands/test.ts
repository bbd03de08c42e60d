import { Command, InvalidArgumentError } from 'commander';
import type { WindowView } from '../../api/assurance-views.js';
import { apiAction, withApiOptions, type ApiOptions } from '../api-client.js';

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

/** `panelbridge test start|stop|list`: duress test windows on the running gateway, through its API. */
export function testCommand(): Command {
  const test = new Command('test').description('open, close and list duress test windows on the running gateway');

  test.addCommand(
    withApiOptions(new Command('start'))
      .description('open a test window: events from the site are published with test: true until it closes')
      .requiredOption('--site <id-or-name>', "the site under test: its id or its exact name")
      .requiredOption('--minutes <n>', 'how long the window stays open', positiveNumber)
      .option('--note <text>', 'why the window is opened (published to central and kept in the audit log)')
      .option('--device <name>', 'a device under test, e.g. zone-5, user-12, door-lobby (repeatable or comma-separated; default: every duress device of the site)', collect)
      .action(
        apiAction(async (call, out, options: ApiOptions & { site: string; minutes: number; device?: string[]; note?: string }) => {
          const window = (await call('POST', '/test-windows', {
            site: options.site,
            minutes: options.minutes,
            ...(options.note === undefined ? {} : { note: options.note }),
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
      .option('--note <text>', 'why it is closed (published to central and kept in the audit log)')
      .action(
        apiAction(async (call, out, id: string, options: ApiOptions & { note?: string }) => {
          const window = (await call('DELETE', `/test-windows/${encodeURIComponent(id)}`, options.note === undefined ? undefined : { note: options.note })) as WindowView;
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
        apiAction(async (call, out, options: ApiOptions & { all?: boolean }) => {
          const { windows } = (await call('GET', `/test-windows${options.all === true ? '?all=1' : ''}`)) as { windows: WindowView[] };
          if (options.json === true) return out(JSON.stringify(windows));
          if (windows.length === 0) return out(options.all === true ? 'no test windows' : 'no open test windows');
          for (const window of windows) for (const line of describeWindow(window)) out(line);
        }),
      ),
  );
  return test;
}

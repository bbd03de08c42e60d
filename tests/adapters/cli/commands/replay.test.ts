import { afterEach, describe, expect, it } from 'vitest';
import { replayCommand } from '../../../../adapters/cli/commands/replay.js';

const hostZone = process.env.TZ;

/** The `--start` a replay would run with, or the error its parsing printed; the replay itself never runs. */
async function startOf(value: string): Promise<{ start?: number; error?: string }> {
  let error = '';
  let start: number | undefined;
  const command = replayCommand()
    .exitOverride()
    .configureOutput({ writeErr: (text) => (error += text) })
    .hook('preAction', (_command, action) => {
      start = action.opts<{ start: number }>().start;
      throw new Error('parsed');
    });
  await command.parseAsync(['capture.log', '--config', 'panelbridge.yaml', '--start', value], { from: 'user' }).catch(() => undefined);
  return start === undefined ? { error } : { start };
}

describe('replay --start', () => {
  afterEach(() => {
    if (hostZone === undefined) delete process.env.TZ;
    else process.env.TZ = hostZone;
  });

  it('takes a time with its offset, whatever the host time zone is', async () => {
    process.env.TZ = 'America/New_York';
    expect(await startOf('2024-05-01T00:00:00Z')).toEqual({ start: Date.UTC(2024, 4, 1) });
    expect(await startOf('2024-05-01T02:00:00.500+02:00')).toEqual({ start: Date.UTC(2024, 4, 1, 0, 0, 0, 500) });
  });

  it('refuses a time without an offset, which the host time zone would have decided, and says how to give one', async () => {
    process.env.TZ = 'America/New_York';
    const { start, error } = await startOf('2024-05-01T00:00:00');
    expect(start).toBeUndefined();
    expect(error).toContain("option '--start <time>' argument '2024-05-01T00:00:00' is invalid");
    expect(error).toContain('names no offset: add Z for UTC or its offset from UTC, e.g. 2024-05-01T00:00:00Z or 2024-05-01T00:00:00+02:00');
  });

  it('refuses what is not a date and time', async () => {
    for (const value of ['2024-05-01', 'May 1, 2024', '2024-02-30T00:00:00Z']) {
      expect((await startOf(value)).error).toContain('expected an ISO-8601 time with its offset, e.g. 2024-05-01T00:00:00Z');
    }
  });
});

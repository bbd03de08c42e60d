import { describe, expect, it } from 'vitest';
import { OVERFLOW_KINDS, peerHost, RateLimitedLog } from '../../../src/observability/rate-limited-log.js';
import { DAY, FakeClock as SteppingClock } from '../../helpers/assurance-harness.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

describe('RateLimitedLog', () => {
  it('logs a repeated warning once per kind and peer per window, then says how many it left out', () => {
    const clock = new FakeClock();
    const { logger, lines } = recordingLogger();
    const log = new RateLimitedLog({ logger, clock, windowMs: 10_000 });

    for (let i = 0; i < 300_000; i++) log.warn('crc', `10.0.0.9:${1024 + (i % 60_000)}`, { code: 'DC09_CRC_MISMATCH' }, 'frame rejected');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', fields: { code: 'DC09_CRC_MISMATCH', kind: 'crc' }, message: 'frame rejected' });

    clock.advance(10_000);
    log.warn('crc', '10.0.0.9:5000', { code: 'DC09_CRC_MISMATCH' }, 'frame rejected');
    // The window ended: the quiet pair's closing line carries the count, and the new line starts afresh.
    expect(lines.slice(1).map((l) => l.fields.suppressed)).toEqual([299_999, undefined]);
  });

  it('keeps kinds and peers apart', () => {
    const clock = new FakeClock();
    const { logger, lines } = recordingLogger();
    const log = new RateLimitedLog({ logger, clock });
    log.warn('crc', '10.0.0.1:1', {}, 'a');
    log.warn('crc', '10.0.0.2:1', {}, 'a');
    log.warn('account', '10.0.0.1:1', {}, 'b');
    log.warn('crc', '10.0.0.1:2', {}, 'a');
    expect(lines).toHaveLength(3);
  });

  it('shares one entry per kind once too many peers are tracked, so many addresses cannot flood the log', () => {
    const clock = new FakeClock();
    const { logger, lines } = recordingLogger();
    const log = new RateLimitedLog({ logger, clock, maxKeys: 10 });
    for (let i = 0; i < 5_000; i++) log.warn('crc', `10.0.${i >> 8}.${i & 255}:4000`, {}, 'frame rejected');
    expect(lines).toHaveLength(11);
  });

  it('shares one entry once too many kinds overflow as well, so kinds made of input (an account per frame) cannot flood the log either', () => {
    const clock = new FakeClock();
    const { logger, lines } = recordingLogger();
    const log = new RateLimitedLog({ logger, clock, maxKeys: 10 });
    for (let i = 0; i < 5_000; i++) log.warn(`unknown-account|${i}`, '10.0.0.9:4000', {}, 'unknown account: NAK');
    // The first pairs, then one overflow entry per kind for a few kinds, then one for all the rest.
    expect(lines).toHaveLength(10 + OVERFLOW_KINDS + 1);
    clock.advance(10_000);
    log.warn('crc', '10.0.0.9:4000', {}, 'frame rejected');
    // The window ended: each entry that left lines out closes with its count, and all of them are forgotten.
    const closing = lines.slice(10 + OVERFLOW_KINDS + 1).filter((l) => l.fields.suppressed !== undefined);
    expect(closing.reduce((sum, l) => sum + (l.fields.suppressed as number), 0)).toBe(5_000 - 10 - OVERFLOW_KINDS - 1);
    expect(lines.at(-1)).toMatchObject({ fields: { kind: 'crc' }, message: 'frame rejected' });
  });

  /** NTP stepping back a clock that ran fast (by a day here) must not silence a kind until the wall clock catches up. */
  it('measures its windows by the monotonic clock, so a wall clock stepped back does not suppress lines for the step', () => {
    const clock = new SteppingClock();
    const { logger, lines } = recordingLogger();
    const log = new RateLimitedLog({ logger, clock, windowMs: 10_000 });
    log.warn('crc', '10.0.0.9:1', {}, 'frame rejected');
    clock.step(-DAY);
    clock.advance(10_000);
    log.warn('crc', '10.0.0.9:1', {}, 'frame rejected');
    expect(lines).toHaveLength(2);
  });

  it('reads the host out of IPv4, IPv6 and bracketed peers', () => {
    expect(peerHost('10.0.0.9:5000')).toBe('10.0.0.9');
    expect(peerHost('::ffff:127.0.0.1:5000')).toBe('::ffff:127.0.0.1');
    expect(peerHost('[::1]:5000')).toBe('::1');
    expect(peerHost(undefined)).toBe('unknown');
    expect(peerHost('/dev/ttyUSB0')).toBe('/dev/ttyUSB0');
  });
});

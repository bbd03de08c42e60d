import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startListener, type ListenerUnderTest } from '../../helpers/dc09-listener.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

let under: ListenerUnderTest | undefined;
afterEach(async () => {
  await under?.listener.stop();
  under = undefined;
});

/**
 * A Honeywell FX020 set to SIA over IP sends SIA DC-03 blocks, not DC-09 frames: its account block, as quoted in
 * https://github.com/eavanvalkenburg/sia/issues/32 (bytearray(b'D#0192\x92')). The input does not read DC-03 blocks, so
 * the panel gets no answer and reports a failure to communicate; the installer must be told why, not "noise".
 */
describe('DC-09 input: a panel sending SIA DC-03 blocks', () => {
  it('counts them by their own reason and logs what to set on the panel', async () => {
    const { logger, lines } = recordingLogger();
    under = await startListener({ accounts: null, sites: [], udp: false, idleTimeoutMs: 10_000, maxConnections: 16, logger });
    const socket = net.connect({ host: '127.0.0.1', port: under.port });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.end(Buffer.from('D#0192\x92', 'latin1'));
    const counters = under.counters;
    await expect.poll(() => counters.get('frames_discarded_total', { input: 'ip-receiver', reason: 'FRAME_SIA_BLOCK' })).toBe(1);
    expect(counters.get('frames_discarded_total', { input: 'ip-receiver', reason: 'FRAME_NOISE' })).toBe(0);
    const line = lines.find((logged) => logged.fields.reason === 'FRAME_SIA_BLOCK');
    expect(line?.level).toBe('warn');
    expect(line?.message).toMatch(/SIA DC-03 block/);
    expect(line?.message).toMatch(/DC-09/);
    socket.destroy();
  });
});

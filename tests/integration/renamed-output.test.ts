import { afterAll, describe, expect, it } from 'vitest';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';
import { TcpPanel, panelFrame, parseAnswer } from '../helpers/panel.js';

/**
 * Real process, kill -9: a duress is ACKed while the central webhook is down; the gateway is restarted with that
 * output replaced by another central one (README "Renaming or removing an output"). The ACKed duress reaches the new
 * output, and the log says the old one's undelivered events were handed over.
 */
describe('restart with a renamed central output while a duress is pending', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('delivers or reports the ACKed duress', async () => {
    const dir = tempDir('renamed');
    const dc09Port = await freePort();
    const deadPort = await freePort();
    const base = {
      dataDir: `${dir}/var`,
      duressDeadline: '2s',
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: dc09Port, accounts: [{ account: '1234' }] }],
    };
    const first = GatewayProcess.spawn(
      writeConfig(dir, {
        ...base,
        outputs: [{ type: 'webhook', name: 'hook', url: `http://127.0.0.1:${deadPort}/events`, secret: 'whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=', timeout: '1s' }],
      }),
    );
    cleanups.push(() => void first.child.kill('SIGKILL'));
    await first.ready;
    const panel = await TcpPanel.connect(dc09Port);
    const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1121 01 007' }));
    panel.close();
    expect(answer !== null && parseAnswer(answer).token).toBe('ACK');
    first.kill('SIGKILL');
    await first.exited;

    const second = GatewayProcess.spawn(writeConfig(dir, { ...base, outputs: [{ type: 'stdout', name: 'console' }] }));
    cleanups.push(() => void second.child.kill('SIGKILL'));
    await second.ready;
    await new Promise((r) => setTimeout(r, 5_000));
    const events = second.events();
    const duressDelivered = events.some((e) => e['category'] === 'duress');
    const logged = [...second.stdout, ...second.stderr].some((l) => !l.includes('"schema":"panelbridge.event/1"') && l.includes('"hook"') && l.includes('"handedTo":["console"]'));
    second.kill('SIGTERM');
    await second.exited;
    expect({ duressDelivered, logged }, 'the ACKed duress vanished without a trace').toEqual({ duressDelivered: true, logged: true });
  }, 60_000);
});

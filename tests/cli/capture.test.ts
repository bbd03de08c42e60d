import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/broker.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

const running: GatewayProcess[] = [];
afterEach(async () => {
  for (const gateway of running.splice(0)) {
    gateway.kill('SIGTERM');
    await gateway.exited;
  }
});

describe('panelbridge run --capture', () => {
  // /dev/full answers every write with ENOSPC: a capture disk that filled up while the gateway runs.
  it.skipIf(!existsSync('/dev/full'))('a capture file that cannot be written (disk full): every frame is still stored, ACKed and published; one log line', async () => {
    const dir = tempDir('capture-full');
    const port = await freePort();
    const config = writeConfig(dir, {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, udp: false, accounts: [{ account: '1234' }] }],
      outputs: [{ type: 'stdout', name: 'console' }],
    });
    const gateway = GatewayProcess.spawn(config, ['--capture', '/dev/full']);
    running.push(gateway);
    await gateway.ready;
    const panel = await TcpPanel.connect(port);
    const answers = [];
    for (const [seq, data] of [['0001', '#1234|Nri1/HA05'], ['0002', '#1234|Nri1/BA03']] as const)
      answers.push(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq, account: '1234', data })))!).token);
    panel.close();
    expect(answers).toEqual(['ACK', 'ACK']);
    for (let waited = 0; gateway.events().length < 2 && waited < 3_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(gateway.events().map((e) => e['category'])).toEqual(['holdup', 'burglary']);
    const notCaptured = gateway.stderr.filter((line) => line.includes('frame not captured'));
    expect(notCaptured).toHaveLength(1);
    expect(JSON.parse(notCaptured[0]!)).toMatchObject({ level: 50, input: 'ip', file: '/dev/full', kind: 'capture-write-failed' });
  }, 20_000);
});

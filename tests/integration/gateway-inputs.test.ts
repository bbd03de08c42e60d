import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { SerialPort } from 'serialport';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';
import { onvifDuress } from '../helpers/onvif.js';

const hasSocat = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;

async function ptyPair(): Promise<{ socat: ChildProcess; ends: string[] }> {
  const socat = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let notices = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(notices)), 5000);
    socat.stderr!.on('data', (chunk: Buffer) => {
      notices += chunk.toString();
      if (/starting data transfer loop/.test(notices)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { socat, ends: [...notices.matchAll(/PTY is (\S+)/g)].map((m) => m[1]!) };
}

const ONVIF_DURESS = onvifDuress('Jane Roe');

/** The whole daemon with its non-DC-09 inputs: a Sur-Gard receiver on a real pseudo-terminal and an access-control feed. */
describe('gateway with serial and access-XML inputs', () => {
  const cleanups: Array<() => void> = [];
  afterAll(() => cleanups.forEach((c) => c()));

  it.skipIf(!hasSocat)('ACKs a Sur-Gard duress packet after storing it and publishes a duress event; an access duress PIN comes out with door and site', async () => {
    const { socat, ends } = await ptyPair();
    cleanups.push(() => socat.kill());
    const accessPort = await freePort();
    const dir = tempDir('inputs');
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir: `${dir}/var`,
        inputs: [
          { type: 'serial', name: 'receiver', path: ends[0], baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1, protocol: 'surgard' },
          { type: 'access-xml', name: 'doors', host: '127.0.0.1', port: accessPort, site: 'hq', secret: 'door-secret' },
        ],
        outputs: [{ type: 'stdout', name: 'console' }],
        sites: [{ id: 'hq', name: 'Head office', accounts: ['1234'], doors: [{ id: 'door-lobby-2', name: 'Lobby door 2', duress: true, testEvery: '30d' }] }],
      }),
    );
    cleanups.push(() => gateway.kill('SIGKILL'));
    await gateway.ready;

    const receiver = new SerialPort({ path: ends[1]!, baudRate: 19200, dataBits: 7, parity: 'even' });
    cleanups.push(() => receiver.close());
    const answers: number[] = [];
    receiver.on('data', (d: Buffer) => answers.push(...d));
    receiver.write('501100 181234E12101001\u0014');
    receiver.write('5011?? garbage\u0014');
    const until = Date.now() + 5000;
    while (answers.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(answers).toEqual([0x06, 0x15]);

    const response = await fetch(`http://127.0.0.1:${accessPort}/access`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml', authorization: 'Bearer door-secret' },
      body: ONVIF_DURESS,
    });
    expect(response.status).toBe(200);

    const until2 = Date.now() + 5000;
    while (gateway.events().length < 2 && Date.now() < until2) await new Promise((r) => setTimeout(r, 50));
    const [serial, door] = gateway.events();
    expect(serial).toMatchObject({ protocol: 'surgard', account: '1234', category: 'duress', duress: true, receiver: '01', line: '100' });
    expect(door).toMatchObject({ protocol: 'access-xml', category: 'duress', duress: true, door: { id: 'door-lobby-2', name: 'Lobby door 2' }, site: { id: 'hq' } });
    expect(door!['door']).toMatchObject({ credential: 'cred-00417', holder: 'Jane Roe' });
    gateway.kill('SIGTERM');
    expect((await gateway.exited).code).toBe(0);
  }, 30_000);
});

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReceivedRecord } from '../../adapters/cli/commands/simulate-receive.js';
import { CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';

const execFileAsync = promisify(execFile);
const KEY_HEX = '00112233445566778899AABBCCDDEEFF';

interface Receiver {
  child: ChildProcess;
  port: number;
  records: ReceivedRecord[];
}

/** `panelbridge simulate --receive --json` on a free port; resolves once it prints where it listens. */
async function startReceive(args: string[]): Promise<Receiver> {
  const child = spawn(process.execPath, [CLI, 'simulate', '--receive', '--listen', '127.0.0.1:0', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const records: ReceivedRecord[] = [];
  let rest = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const parsed = JSON.parse(line) as { listening?: { port: number } } & ReceivedRecord;
        if (parsed.listening !== undefined) resolve(parsed.listening.port);
        else records.push(parsed);
      }
    });
    child.once('exit', (code) => reject(new Error(`simulate --receive exited ${code}`)));
  });
  return { child, port, records };
}

const running: ChildProcess[] = [];
const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
  for (const gateway of gateways.splice(0)) {
    gateway.kill('SIGTERM');
    await gateway.exited;
  }
});

async function simulate(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await execFileAsync(process.execPath, [CLI, 'simulate', ...args]);
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('panelbridge simulate --receive', () => {
  it('answers a simulated panel like the gateway (encrypted *ACK) and prints what arrived', async () => {
    const receiver = await startReceive(['--account', '4567', '--key', KEY_HEX, '--key-encoding', 'hex']);
    const sent = await simulate(['--to', `udp://127.0.0.1:${receiver.port}`, '--account', '4567', '--key', KEY_HEX, '--key-encoding', 'hex', '--event', 'duress', '--user', '7']);
    expect(sent.code).toBe(0);
    await expect.poll(() => receiver.records.length, { timeout: 10_000 }).toBe(1);
    expect(receiver.records[0]).toMatchObject({
      transport: 'udp',
      token: '*ADM-CID',
      account: '4567',
      seq: '0001',
      answer: 'ack',
      events: [{ category: 'duress', duress: true, user: { number: 7 }, code: { scheme: 'contact-id', value: '121' } }],
    });
  });

  it('refuses a plaintext frame from an unknown account with a NAK, and says why', async () => {
    const receiver = await startReceive(['--account', '4567']);
    const sent = await simulate(['--to', `tcp://127.0.0.1:${receiver.port}`, '--account', '1111', '--event', 'burglary', '--timeout', '2000']);
    expect(sent.code).toBe(1);
    await expect.poll(() => receiver.records.length, { timeout: 10_000 }).toBe(1);
    expect(receiver.records[0]).toMatchObject({ answer: 'nak', account: '1111', error: expect.stringMatching(/DC09_ACCOUNT_UNKNOWN/) });
  });

  it('receives what a running gateway forwards through its dc09 output (panel → gateway → receiver)', async () => {
    const receiver = await startReceive(['--account', '9876', '--key', KEY_HEX, '--key-encoding', 'hex']);
    const dir = tempDir('forward');
    const inputPort = await freePort();
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir: `${dir}/var`,
        inputs: [{ type: 'dc09', name: 'panels', host: '127.0.0.1', port: inputPort, accounts: [{ account: '1234' }] }],
        outputs: [
          {
            type: 'dc09',
            name: 'arc',
            primary: `tcp://127.0.0.1:${receiver.port}`,
            account: '9876',
            key: KEY_HEX,
            keyEncoding: 'hex',
            format: 'sia-dcs',
            supervision: '60s',
            ackTimeout: '2s',
          },
        ],
        sites: [{ id: 'b12', name: 'Branch 12', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 3 hold-up button', type: 'holdup' }] }],
      }),
    );
    gateways.push(gateway);
    await gateway.ready;
    const sent = await simulate(['--to', `tcp://127.0.0.1:${inputPort}`, '--account', '1234', '--event', 'holdup', '--zone', '5']);
    expect(sent.code).toBe(0);
    await expect.poll(() => receiver.records.filter((r) => r.events.length > 0).length, { timeout: 15_000 }).toBe(1);
    const forwarded = receiver.records.find((r) => r.events.length > 0)!;
    expect(forwarded).toMatchObject({
      token: '*SIA-DCS',
      account: '9876',
      answer: 'ack',
      events: [{ category: 'holdup', duress: true, zone: { number: 5 }, code: { scheme: 'sia', value: 'HA' }, extended: { S: 'Branch 12', H: expect.any(String) } }],
    });
  });
});

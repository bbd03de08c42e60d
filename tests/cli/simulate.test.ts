import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { apiFetch, CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';

const execFileAsync = promisify(execFile);
const KEY_HEX = '00112233445566778899AABBCCDDEEFF';
const EXAMPLE_SCENARIO = new URL('../../config/scenario.example.yaml', import.meta.url).pathname;

async function simulate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, 'simulate', ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('panelbridge simulate against a running gateway', () => {
  let gateway: GatewayProcess;
  let port: number;
  let apiPort: number;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir('simulate');
    port = await freePort();
    apiPort = await freePort();
    gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir: `${dir}/var`,
        api: { host: '127.0.0.1', port: apiPort },
        inputs: [
          { type: 'dc09', name: 'ip', host: '127.0.0.1', port, accounts: [{ account: '1234' }, { account: '4567', key: KEY_HEX, keyEncoding: 'hex' }] },
        ],
        outputs: [{ type: 'stdout', name: 'console' }],
        sites: [{ id: 'b12', name: 'Branch 12', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 3 hold-up button', type: 'holdup' }] }],
      }),
    );
    await gateway.ready;
  });

  afterAll(async () => {
    gateway.kill('SIGTERM');
    await gateway.exited;
  });

  const waitForEvent = async (match: (e: Record<string, unknown>) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const found = gateway.events().find(match);
      if (found !== undefined) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('event not delivered');
  };

  it('holdup: the gateway ACKs and publishes a holdup event for the zone', async () => {
    const result = await simulate(['--to', `tcp://127.0.0.1:${port}`, '--account', '1234', '--event', 'holdup', '--zone', '5']);
    expect(result.stdout).toMatch(/^0001 ADM-CID #1234 holdup zone 5 -> ACK [\d.]+ ms\n$/);
    expect(result.code).toBe(0);
    const event = await waitForEvent((e) => e.account === '1234' && e.category === 'holdup');
    expect(event).toMatchObject({ duress: true, zone: { number: 5, name: 'Teller 3 hold-up button' }, site: { name: 'Branch 12' } });
  });

  it('an account outside the allowlist gets a NAK with the receiver time and exit 1', async () => {
    const result = await simulate(['--to', `tcp://127.0.0.1:${port}`, '--account', '9999', '--event', 'panic', '--json']);
    expect(result.code).toBe(1);
    const record = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(record).toMatchObject({ seq: '0001', token: 'ADM-CID', account: '9999', answer: 'nak' });
    expect(Math.abs(Date.parse(record.receiverTime as string) - Date.now())).toBeLessThan(60_000);
  });

  it('encrypted with the key: *ADM-CID is ACKed with an *ACK that decrypts, over TCP and UDP', async () => {
    for (const transport of ['tcp', 'udp']) {
      const result = await simulate(['--to', `${transport}://127.0.0.1:${port}`, '--account', '4567', '--key', KEY_HEX, '--event', 'duress', '--user', '3']);
      expect(result.stdout).toMatch(/^0001 \*ADM-CID #4567 duress user 3 -> ACK [\d.]+ ms \(receiver time \S+\)\n$/);
      expect(result.code).toBe(0);
    }
    await waitForEvent((e) => e.account === '4567' && e.category === 'duress');
  });

  it('load mode prints throughput and latency percentiles, and /metrics counts the ACKs', async () => {
    const before = await ackCount(`${dir}/var`, apiPort);
    const result = await simulate(['--to', `tcp://127.0.0.1:${port}`, '--account', '1234', '--event', 'burglary', '--count', '300', '--connections', '6', '--json', '--quiet']);
    expect(result.code).toBe(0);
    const { report } = JSON.parse(result.stdout.trim()) as { report: Record<string, any> };
    expect(report).toMatchObject({ sent: 300, connections: 6, answers: { ack: 300, nak: 0, none: 0 } });
    expect(report.throughputPerSec).toBeGreaterThan(0);
    const { p50, p90, p99, max } = report.latencyMs;
    expect(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max).toBe(true);
    expect((await ackCount(`${dir}/var`, apiPort)) - before).toBe(300);

    const table = await simulate(['--to', `tcp://127.0.0.1:${port}`, '--account', '1234', '--event', 'test', '--count', '20', '--connections', '2', '--quiet']);
    expect(table.stdout).toMatch(/^frames +20 sent: 20 ACK, 0 NAK.*\nthroughput +[\d.]+ frames\/s over 2 connection\(s\).*\nlatency ms +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +max [\d.]+\n$/);
  });

  it('plays a scenario: every device in order, each answer reported, keys never printed', async () => {
    const scenarioFile = path.join(dir, 'scenario.yaml');
    writeFileSync(
      scenarioFile,
      readFileSync(EXAMPLE_SCENARIO, 'utf8').replace('tcp://127.0.0.1:12000', `tcp://127.0.0.1:${port}`).replace('delay: 2s', 'delay: 10ms'),
    );
    const result = await simulate(['--scenario', scenarioFile]);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, -1).map((l) => l.replace(/ -> ACK .*/, ''))).toEqual([
      '0001 ADM-CID #1234 holdup zone 5 "Branch 12: Teller 3 hold-up button"',
      '0002 ADM-CID #1234 panic zone 9 "Branch 12: Manager pendant"',
      '0003 ADM-CID #1234 duress user 12 "Branch 12: Manager duress code"',
      '0004 ADM-CID #1234 walk-test zone 5 "Branch 12: Teller 3 hold-up button (walk test)"',
      '0001 *NULL #4567 null "Branch 12: Link test"',
      '0002 *ADM-CID #4567 holdup zone 1 "Branch 12: Safe room button"',
    ]);
    expect(lines.at(-1)).toBe('Branch 12: 6 event(s), 6 ACK, 0 not ACKed');
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(KEY_HEX);
  });

  it('reports a frame that got no answer and exits 1', async () => {
    const silent = await freePort(); // nothing answers on UDP there
    const result = await simulate(['--to', `udp://127.0.0.1:${silent}`, '--account', '1234', '--event', 'test', '--timeout', '200']);
    expect(result.stdout).toBe('0001 ADM-CID #1234 test zone 1 -> no answer\n');
    expect(result.code).toBe(1);
  });

  it('exits 2 with one line on bad options or an unreachable target', async () => {
    const unknown = await simulate(['--to', `tcp://127.0.0.1:${port}`, '--account', '1234', '--event', 'fire']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/unknown event "fire"/);
    const badZone = await simulate(['--to', `tcp://127.0.0.1:${port}`, '--account', '1234', '--event', 'holdup', '--zone', '1000']);
    expect(badZone.code).toBe(2);
    expect(badZone.stderr).toMatch(/--zone.*expected a whole number 0-999/);
    const closed = await simulate(['--to', `tcp://127.0.0.1:${await freePort()}`, '--account', '1234', '--event', 'test']);
    expect(closed.code).toBe(2);
    expect(closed.stderr).toMatch(/cannot reach tcp:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});

async function ackCount(dataDir: string, apiPort: number): Promise<number> {
  const text = await (await apiFetch(dataDir, `http://127.0.0.1:${apiPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('panelbridge_dc09_answer_latency_seconds_count{answer="ack"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

const hasSocat = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;

describe('panelbridge simulate --serial (Sur-Gard receiver) over a pseudo-terminal pair', () => {
  it.skipIf(!hasSocat)('writes DC4-terminated packets and prints the automation ACK/NAK', async () => {
    const dir = tempDir('surgard');
    const [simulatorEnd, automationEnd] = [path.join(dir, 'receiver'), path.join(dir, 'automation')];
    const socat = spawn('socat', [`pty,raw,echo=0,link=${simulatorEnd}`, `pty,raw,echo=0,link=${automationEnd}`], { stdio: 'ignore' });
    try {
      let automation: SerialPort | undefined;
      for (let i = 0; i < 50 && automation === undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        automation = await openPort(automationEnd).catch(() => undefined);
      }
      const packets: string[] = [];
      let pending = '';
      automation!.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\x14'); end >= 0; end = pending.indexOf('\x14')) {
          packets.push(pending.slice(0, end + 1));
          pending = pending.slice(end + 1);
          // The automation NAKs every second packet.
          automation!.write(Buffer.of(packets.length % 2 === 0 ? 0x15 : 0x06));
        }
      });
      const result = await simulate(['--serial', simulatorEnd, '--protocol', 'surgard', '--account', '1234', '--event', 'holdup', '--zone', '7', '--count', '2']);
      expect(packets).toEqual(['501001 181234E12201007\x14', '501001 181234E12201007\x14']);
      expect(result.stdout).toMatch(/^surgard #1234 holdup zone 7 -> ACK [\d.]+ ms\nsurgard #1234 holdup zone 7 -> NAK [\d.]+ ms\nframes +2 sent: 1 ACK, 1 NAK/);
      expect(result.code).toBe(1);
      await new Promise<void>((resolve) => automation!.close(() => resolve()));
    } finally {
      socat.kill('SIGTERM');
      await once(socat, 'exit');
    }
  });
});

function openPort(file: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path: file, baudRate: 19200, autoOpen: false });
    port.open((error) => (error ? reject(error) : resolve(port)));
  });
}

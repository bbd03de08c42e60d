import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { decodeFrame } from '../../src/pipeline/decode-frame.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { createIdSource } from '../../src/model/ids.js';
import { systemClock } from '../../src/ports.js';
import { frameContent, parseSimEvent, SIM_EVENT_NAMES, type SimEvent, type SimFormat } from '../../src/simulate/events.js';
import { buildPanelFrame, buildSurgardPacket, interpretAnswer, interpretSurgardAnswer, SequenceCounter } from '../../src/simulate/frames.js';
import { latencySummary } from '../../src/simulate/report.js';
import { parseScenario } from '../../src/simulate/scenario.js';
import { apiFetch, CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/broker.js';
import { panelFrame, parseAnswer, stamp, wrap, type PanelFrame } from '../helpers/panel.js';

const execFileAsync = promisify(execFile);
const KEY_HEX = '00112233445566778899AABBCCDDEEFF';
const KEY = Buffer.from(KEY_HEX, 'hex');
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

function named(text: string): SimEvent {
  const parsed = parseSimEvent(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

/** The category the gateway's own decoder and classifier give a simulated frame. */
function categoryOf(event: SimEvent, format: SimFormat): string {
  const frame = buildPanelFrame({ content: frameContent(event, '1234', { zone: 5, user: 12 }, format), seq: '0001', account: '1234', now: Date.now(), random: (n) => Buffer.alloc(n, 0x41) });
  const decoded = decodeFrame(frame, {});
  if (!decoded.ok) throw new Error(decoded.error.message);
  const builder = { ids: createIdSource(systemClock), sites: () => [] };
  const origin = { input: 'test', transport: 'cli' as const, receivedAt: Date.now(), raw: frame, trust: VERIFIED };
  return decoded.value.signals.map((s) => eventFromSignal(s, origin, builder).category).join(',');
}

describe('simulator building blocks', () => {
  it('numbers frames 0001..9999 and wraps to 0001', () => {
    const sequence = new SequenceCounter(9998);
    expect([sequence.next(), sequence.next(), sequence.next()]).toEqual(['9998', '9999', '0001']);
    expect(new SequenceCounter().next()).toBe('0001');
  });

  it.each([
    ['duress', 'duress'],
    ['holdup', 'holdup'],
    ['panic', 'panic'],
    ['burglary', 'burglary'],
    ['test', 'test'],
    ['walk-test', 'test'],
  ])('%s is classified %s by the gateway, in ADM-CID and SIA-DCS', (event, category) => {
    expect(categoryOf(named(event), 'adm-cid')).toBe(category);
    expect(categoryOf(named(event), 'sia-dcs')).toBe(category);
  });

  it('maps events to the Contact ID codes of the brief, with the user for duress and the zone otherwise', () => {
    const data = (event: string) => frameContent(named(event), '1234', { zone: 5, user: 12 }, 'adm-cid').data;
    expect(['duress', 'holdup', 'panic', 'burglary', 'test', 'walk-test'].map(data)).toEqual(['1121 01 012', '1122 01 005', '1120 01 005', '1130 01 005', '1601 01 005', '1611 01 005']);
    expect(frameContent(named('null'), '1234', {}, 'adm-cid')).toEqual({ token: 'NULL', dataAccount: null, data: '' });
    expect(SIM_EVENT_NAMES).toEqual(['duress', 'holdup', 'panic', 'burglary', 'test', 'walk-test', 'null']);
  });

  it('sends a raw data block as given and refuses unknown event names', () => {
    expect(frameContent(named('raw:#1234|Nri1/PA501'), '1234', {}, 'sia-dcs')).toEqual({ token: 'SIA-DCS', dataAccount: '1234', data: 'Nri1/PA501' });
    expect(parseSimEvent('fire')).toMatchObject({ ok: false });
    expect(parseSimEvent('raw:')).toMatchObject({ ok: false });
  });

  it('builds frames the independent test panel accepts (CRC, length) and, encrypted, decrypts', () => {
    const content = frameContent(named('holdup'), '4567', { zone: 5 }, 'adm-cid');
    const plain = parseAnswer(Buffer.from(buildPanelFrame({ content, seq: '0042', account: '4567', now: Date.UTC(2024, 0, 2, 3, 4, 5), random: (n) => Buffer.alloc(n, 0x41) })));
    expect(plain).toMatchObject({ crcValid: true, token: 'ADM-CID', seq: '0042' });
    expect(plain.body).toBe('"ADM-CID"0042L0#4567[#4567|1122 01 005]_03:04:05,01-02-2024');
    const sealed = parseAnswer(Buffer.from(buildPanelFrame({ content, seq: '0043', account: '4567', key: KEY, now: Date.UTC(2024, 0, 2, 3, 4, 5), random: (n) => Buffer.alloc(n, 0x41) })), KEY);
    expect(sealed).toMatchObject({ crcValid: true, token: '*ADM-CID', seq: '0043' });
    expect(sealed.plaintext).toMatch(/\|#4567\|1122 01 005\]_03:04:05,01-02-2024$/);
  });

  it('reads answers as a panel: ACK by sequence, stale ACKs skipped, NAK with receiver time, bad CRC invalid', () => {
    const sent = { seq: '0007', encrypted: false };
    expect(interpretAnswer(wrap('"ACK"0007L0#1234[]'), sent)).toMatchObject({ kind: 'ack' });
    expect(interpretAnswer(wrap('"ACK"0006L0#1234[]'), sent)).toMatchObject({ kind: 'stale' });
    expect(interpretAnswer(wrap('"DUH"0007L0#1234[]'), sent)).toMatchObject({ kind: 'duh' });
    expect(interpretAnswer(wrap(`"NAK"0000R0L0A0[]${stamp(Date.UTC(2024, 0, 2, 12))}`), sent)).toEqual({ kind: 'nak', receiverTime: Date.UTC(2024, 0, 2, 12) });
    const corrupted = Buffer.from(wrap('"ACK"0007L0#1234[]'));
    corrupted[1] = corrupted[1] === 0x30 ? 0x31 : 0x30;
    expect(interpretAnswer(corrupted, sent)).toMatchObject({ kind: 'invalid' });
  });

  it('decrypts an encrypted ACK with the key and refuses a plain ACK to an encrypted frame', () => {
    const sent = { seq: '0009', encrypted: true, key: KEY };
    const time = Date.UTC(2024, 5, 6, 7, 8, 9);
    const encryptedAck = panelFrame({ token: 'ACK' as PanelFrame['token'], seq: '0009', account: '4567', data: '', key: KEY, time });
    expect(interpretAnswer(encryptedAck, sent)).toEqual({ kind: 'ack', encrypted: true, receiverTime: time });
    expect(interpretAnswer(wrap('"ACK"0009L0#4567[]'), sent)).toMatchObject({ kind: 'invalid', detail: 'plain ACK to an encrypted frame' });
  });

  it('plays Sur-Gard packets as in SGAUTO p.19 and reads 0x06/0x15', () => {
    // protocols.md §4.1: `501100 181234E12101001` + DC4 is duress, group 01, user 001, receiver 01, line 100.
    expect(buildSurgardPacket({ event: named('duress'), account: '1234', address: { user: 1 }, receiver: '01', line: '100' })).toBe('501100 181234E12101001\x14');
    expect(buildSurgardPacket({ event: named('null'), account: '', address: {}, receiver: '01', line: '001' })).toBe('101000' + ' '.repeat(11) + '@    \x14');
    expect(buildSurgardPacket({ event: named('raw:S011[#1234|NPA501]'), account: '', address: {}, receiver: '01', line: '001' })).toBe('S011[#1234|NPA501]\x14');
    expect([0x06, 0x15, 0x41].map((b) => interpretSurgardAnswer(Uint8Array.of(b)).kind)).toEqual(['ack', 'nak', 'invalid']);
  });

  it('computes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(latencySummary(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
    expect(latencySummary([7])).toEqual({ p50: 7, p90: 7, p99: 7, max: 7 });
    expect(latencySummary([])).toBeNull();
  });

  it('parses the example scenario and names what is wrong in a bad one', () => {
    const example = parseScenario(readFileSync(EXAMPLE_SCENARIO, 'utf8'));
    expect(example.ok && example.scenario.devices.map((d) => [d.account, d.events.length])).toEqual([['1234', 4], ['4567', 2]]);
    const issuesOf = (text: string) => {
      const parsed = parseScenario(text);
      return parsed.ok ? '' : parsed.issues.join('\n');
    };
    const bad = issuesOf('devices:\n  - account: 1234\n    events: [{ event: fire, zone: 5 }]\n');
    expect(bad).toMatch(/^devices\.0\.account: /m);
    expect(bad).toMatch(/^devices\.0\.events\.0\.event: unknown event "fire"/m);
    expect(issuesOf('devices:\n  - account: "1234"\n    key: "00"\n    events: [{ event: test }]\n')).toMatch(/^devices\.0\.keyEncoding: /m);
  });
});

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

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialInput } from '../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Counters } from '../../src/observability/counters.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { serialReceiver } from '../helpers/serial-receiver.js';

const hasSocat = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
if (!hasSocat) console.warn('serial-pty.test.ts skipped: socat is not installed (apt-get install socat; CI installs it)');

const DC4 = '\u0014';
/** SGAUTO p.19 example: receiver 01, line 100, account 1234, E121 duress, group 01, user 001. */
const DURESS_PACKET = `501100 181234E12101001${DC4}`;
const HEARTBEAT = `101000           @    ${DC4}`;
/**
 * Silent Knight VisorAlarm Plus 2U manual, appendix IV p.70, Radionics 6500 format: the heartbeat
 * `[H]1RRLsssssssssss@ssss[T]` with its header, a space (also the D6500/D6600's optional header character).
 */
const HEADED_HEARTBEAT = ` 1011           @    ${DC4}`;
/** The same manual's Contact ID message `[H]aRRLsAAAA18QXYZGGCCC[T]`, qualifier a letter (E new, R restore, P previous): a duress. */
const VISORALARM_DURESS = ` a011 123418E12101001${DC4}`;

/** Starts `socat` with two linked raw pseudo-terminals and returns their paths from its `-d -d` notices. */
async function ptyPair(): Promise<{ socat: ChildProcess; ends: [string, string] }> {
  const socat = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const paths: string[] = [];
  let notices = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socat did not report two PTYs: ${notices}`)), 5000);
    socat.stderr!.on('data', (chunk: Buffer) => {
      notices += chunk.toString();
      paths.splice(0, paths.length, ...[...notices.matchAll(/PTY is (\S+)/g)].map((m) => m[1]!));
      if (paths.length >= 2 && /starting data transfer loop/.test(notices)) {
        clearTimeout(timer);
        resolve();
      }
    });
    socat.on('exit', (code) => reject(new Error(`socat exited with ${code}: ${notices}`)));
  });
  return { socat, ends: [paths[0]!, paths[1]!] };
}

/** The receiver's side: writes packets and reads the single-byte answers the automation sends back. */
class SurgardWriter {
  private readonly answers: number[] = [];
  private waiting: (() => void) | undefined;

  private constructor(private readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      this.answers.push(...chunk);
      this.waiting?.();
    });
  }

  static async open(path: string): Promise<SurgardWriter> {
    const port = new SerialPort({ path, baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    return new SurgardWriter(port);
  }

  /** Sends one packet and waits (bounded by the 4 s Sur-Gard answer timeout) for one answer byte. */
  async send(packet: string): Promise<number> {
    const before = this.answers.length;
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 4 s')), 4000);
      this.waiting = () => {
        if (this.answers.length > before) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    this.port.write(Buffer.from(packet, 'latin1'));
    await answered;
    return this.answers[before]!;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

describe.skipIf(!hasSocat)('serial input on a real pseudo-terminal pair (socat)', () => {
  let socat: ChildProcess;
  let input: SerialInput;
  let writer: SurgardWriter;
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);

  beforeAll(async () => {
    const pair = await ptyPair();
    socat = pair.socat;
    const counters = new Counters();
    const receiver = serialReceiver(outbox, { counters });
    // No binding option: the OS binding that production uses.
    input = new SerialInput({
      name: 'receiver', path: pair.ends[0], baudRate: 19200, dataBits: 7, parity: 'even', stopBits: 1, protocol: 'surgard',
      maxFrameBytes: 256, reconnect: { initial: 50, max: 500 }, downAlarmAfter: 60_000, receiver, clock: systemClock,
      logger: silentLogger, counters,
    });
    await input.start();
    expect(input.health().state).toBe('up');
    writer = await SurgardWriter.open(pair.ends[1]);
  });

  afterAll(async () => {
    await writer?.close();
    await input?.stop();
    socat?.kill();
  });

  const stored = () => outbox.pending('probe', 100).map((e) => e.event);

  it('ACKs the duress packet, which comes out as a stored duress event', async () => {
    expect(await writer.send(DURESS_PACKET)).toBe(0x06);
    expect(stored()).toHaveLength(1);
    expect(stored()[0]).toMatchObject({ category: 'duress', duress: true, account: '1234', code: { value: '121' }, source: { transport: 'serial' } });
  });

  it('NAKs a corrupted packet and ACKs the heartbeat, storing neither', async () => {
    expect(await writer.send(`501100 18123?E12101001${DC4}`)).toBe(0x15);
    expect(await writer.send(HEARTBEAT)).toBe(0x06);
    expect(stored()).toHaveLength(1);
  });

  it('ACKs the VisorAlarm duress at once, which comes out as a stored duress event', async () => {
    expect(await writer.send(VISORALARM_DURESS)).toBe(0x06);
    expect(stored()).toHaveLength(2);
    expect(stored()[1]).toMatchObject({ category: 'duress', duress: true, account: '1234', code: { value: '121' }, user: { number: 1 } });
  });

  it('ACKs a heartbeat sent after a header character, storing nothing', async () => {
    expect(await writer.send(HEADED_HEARTBEAT)).toBe(0x06);
    expect(stored()).toHaveLength(2);
  });
});

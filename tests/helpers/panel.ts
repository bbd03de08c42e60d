/**
 * An independent DC-09 panel for tests: its own bitwise CRC, its own framing and encryption, written from
 * protocols.md §3 without using the project's codec, so the receiver is checked against the protocol.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import net from 'node:net';
import dgram from 'node:dgram';

export function crcArc(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, 'latin1')) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export function stamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `_${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())},${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${d.getUTCFullYear()}`;
}

export function wrap(body: string): Buffer {
  const crc = crcArc(body).toString(16).toUpperCase().padStart(4, '0');
  const len = '0' + body.length.toString(16).toUpperCase().padStart(3, '0');
  return Buffer.from(`\n${crc}${len}${body}\r`, 'latin1');
}

export interface PanelFrame {
  token: 'SIA-DCS' | 'ADM-CID' | 'NULL';
  seq: string;
  account: string;
  data: string; // without brackets, e.g. "#1234|Nri1/HA05"
  key?: Buffer;
  /** The panel's time stamp; unset: none on a plain frame, now on an encrypted one; null: none at all. */
  time?: number | null;
  receiver?: string;
  line?: string;
}

export function panelFrame(f: PanelFrame): Buffer {
  const header = `${f.seq}${f.receiver === undefined ? '' : 'R' + f.receiver}L${f.line ?? '0'}#${f.account}`;
  if (f.key === undefined) {
    const ts = f.time === undefined || f.time === null ? '' : stamp(f.time);
    return wrap(`"${f.token}"${header}[${f.data}]${ts}`);
  }
  const plain = `|${f.data}]${f.time === null ? '' : stamp(f.time ?? Date.now())}`;
  // pad..timestamp fills whole blocks; an exact fit still gets a full block of pad (§3.6).
  const pad = Buffer.alloc(16 - (plain.length % 16), 0x41);
  const cipher = createCipheriv(`aes-${f.key.length * 8}-cbc`, f.key, Buffer.alloc(16));
  cipher.setAutoPadding(false);
  const enc = Buffer.concat([cipher.update(Buffer.concat([pad, Buffer.from(plain, 'latin1')])), cipher.final()]);
  return wrap(`"*${f.token}"${header}[${enc.toString('hex').toUpperCase()}`);
}

export interface ParsedAnswer {
  token: string;
  crcValid: boolean;
  body: string;
  seq: string;
  plaintext?: string;
}

export function parseAnswer(bytes: Buffer, key?: Buffer): ParsedAnswer {
  const text = bytes.toString('latin1');
  const inner = text.replace(/^\n/, '').replace(/\r$/, '');
  const crc = inner.slice(0, 4);
  const body = inner.slice(8);
  const crcValid = crcArc(body).toString(16).toUpperCase().padStart(4, '0') === crc && parseInt(inner.slice(4, 8), 16) === body.length;
  const token = /^"([^"]+)"/.exec(body)?.[1] ?? '';
  const seq = /^"[^"]+"(\d{4})/.exec(body)?.[1] ?? '';
  const answer: ParsedAnswer = { token, crcValid, body, seq };
  if (token.startsWith('*') && key !== undefined) {
    const hex = body.slice(body.indexOf('[') + 1);
    const decipher = createDecipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16));
    decipher.setAutoPadding(false);
    answer.plaintext = Buffer.concat([decipher.update(Buffer.from(hex, 'hex')), decipher.final()]).toString('latin1');
  }
  return answer;
}

/** Sends frames on one persistent TCP connection and collects the answers (one per frame expected, or a timeout). */
export class TcpPanel {
  private buffer = Buffer.alloc(0);
  private waiters: Array<(frame: Buffer | null) => void> = [];
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const end = this.buffer.indexOf(0x0d);
        if (end < 0) break;
        const frame = this.buffer.subarray(0, end + 1);
        this.buffer = this.buffer.subarray(end + 1);
        this.waiters.shift()?.(frame);
      }
    });
  }

  /** `localAddress`: another loopback address (127.0.0.2 …) to appear as another host. */
  static async connect(port: number, localAddress?: string): Promise<TcpPanel> {
    const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new TcpPanel(socket);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Next answer, or null when none comes within `ms`. */
  answer(ms = 1500): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(null);
      }, ms);
      const done = (frame: Buffer | null) => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.waiters.push(done);
    });
  }

  async send(bytes: Buffer, ms?: number): Promise<Buffer | null> {
    const answer = this.answer(ms);
    this.write(bytes);
    return answer;
  }

  /** The receiver closed the connection (or this side did). */
  get closed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function udpSend(port: number, bytes: Buffer, ms = 1500): Promise<Buffer | null> {
  return (await udpExchange(port, bytes, ms))?.answer ?? null;
}

/** Sends one datagram; the answer and the port it came from (a panel may drop answers from another port), or null. */
export async function udpExchange(port: number, bytes: Buffer, ms = 1500): Promise<{ answer: Buffer; fromPort: number } | null> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<{ answer: Buffer; fromPort: number } | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      socket.on('message', (msg, rinfo) => {
        clearTimeout(timer);
        resolve({ answer: msg, fromPort: rinfo.port });
      });
      socket.send(bytes, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

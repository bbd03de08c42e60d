/**
 * The load side of the ACK-throughput figures: many panels, each over a persistent DC-09 connection or a UDP socket
 * of its own, each sending its next frame as soon as the previous one is answered, as a panel does. It shares two
 * cores with the gateway and the broker, so it is kept lean: event-driven (no promise or timer per frame), a table
 * CRC, answers checked in place. Like tests/helpers/panel.ts it is written from protocols.md §3, not with the
 * project's codec.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let crc = n;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    table[n] = crc;
  }
  return table;
})();

/** CRC-16/ARC of bytes[start, end). */
function crcArc(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (CRC_TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0);
  return crc;
}

const hex = (value: number, width: number): string => value.toString(16).toUpperCase().padStart(width, '0');

/** A plain SIA-DCS burglary frame; `seq` makes it new, so the receiver stores it (a repeat would be deduped). */
export function loadFrame(account: string, seq: number): Buffer {
  const body = `"SIA-DCS"${String(seq).padStart(4, '0')}L0#${account}[#${account}|Nri1/BA${String(seq % 100).padStart(2, '0')}]`;
  const frame = Buffer.from(`\n0000${hex(body.length, 4)}${body}\r`, 'latin1');
  frame.write(hex(crcArc(frame, 9, frame.length - 1), 4), 1, 'latin1');
  return frame;
}

/** A receiver's ACK to sequence 0000 (what the calibration server sends back for every frame). */
export function ackFrame(): Buffer {
  const body = '"ACK"0000L0#0[]';
  const frame = Buffer.from(`\n0000${hex(body.length, 4)}${body}\r`, 'latin1');
  frame.write(hex(crcArc(frame, 9, frame.length - 1), 4), 1, 'latin1');
  return frame;
}

const ACK_TOKEN = Buffer.from('"ACK"', 'latin1');
const ENCRYPTED_ACK_TOKEN = Buffer.from('"*ACK"', 'latin1');

/**
 * True for a whole answer frame (LF … CR) with a valid CRC and length whose token is ACK (`*ACK` when `encrypted`:
 * the answer to an encrypted frame, not decrypted here).
 */
export function isAck(answer: Uint8Array, encrypted = false): boolean {
  if (answer.length < 10 || answer[0] !== 0x0a || answer[answer.length - 1] !== 0x0d) return false;
  const text = Buffer.from(answer.buffer, answer.byteOffset, answer.length);
  const crc = Number.parseInt(text.toString('latin1', 1, 5), 16);
  const length = Number.parseInt(text.toString('latin1', 5, 9), 16);
  const token = encrypted ? ENCRYPTED_ACK_TOKEN : ACK_TOKEN;
  return length === answer.length - 10 && crc === crcArc(answer, 9, answer.length - 1) && text.indexOf(token, 9) === 9;
}

/** What each connection sends: its account's next frame by sequence number, and whether answers come encrypted. */
export interface LoadFrames {
  frame: (account: string, seq: number) => Buffer;
  encrypted: boolean;
}

const PLAIN_FRAMES: LoadFrames = { frame: loadFrame, encrypted: false };

export interface LoadResult {
  acked: number;
  /** Answers other than ACK, and frames left unanswered past the timeout (their connection then stops). */
  notAcked: number;
}

/** One panel's way to the server: where its frames go, and where its answers come back. */
export interface LoadLink {
  send(frame: Buffer): void;
  /** `answer` is called with each whole answer; `closed` once, when the link can carry no more. */
  listen(answer: (bytes: Buffer) => void, closed: () => void): void;
}

/** A link per connected socket: answers are split from the byte stream at their CR. */
export function tcpLinks(sockets: readonly net.Socket[]): LoadLink[] {
  return sockets.map((socket) => ({
    send: (frame) => socket.write(frame),
    listen(answer, closed) {
      let partial: Buffer | undefined;
      socket.on('data', (chunk: Buffer) => {
        let bytes = partial === undefined ? chunk : Buffer.concat([partial, chunk]);
        for (let end = bytes.indexOf(0x0d); end >= 0; end = bytes.indexOf(0x0d)) {
          answer(bytes.subarray(0, end + 1));
          bytes = bytes.subarray(end + 1);
        }
        partial = bytes.length > 0 ? bytes : undefined;
      });
      socket.on('close', closed);
    },
  }));
}

/** A link per bound UDP socket, sending to the server's `port` on loopback: each datagram is one answer. */
export function udpLinks(sockets: readonly dgram.Socket[], port: number): LoadLink[] {
  return sockets.map((socket) => ({
    send: (frame) => socket.send(frame, port, '127.0.0.1'),
    listen(answer, closed) {
      socket.on('message', answer);
      socket.on('close', closed);
    },
  }));
}

interface Connection {
  link: LoadLink;
  account: string;
  seq: number;
  sentAt: number;
  waiting: boolean;
  stopped: boolean;
}

/**
 * Runs one panel per link until `until()` is true; `onAck` is told about every ACK. Resolves when every panel has
 * its last answer (or timed out).
 */
export function runLoad(
  links: readonly LoadLink[],
  firstAccount: number,
  options: { until: () => boolean; answerTimeoutMs: number; onAck?: () => void; frames?: LoadFrames },
): Promise<LoadResult> {
  const { frame, encrypted } = options.frames ?? PLAIN_FRAMES;
  const result: LoadResult = { acked: 0, notAcked: 0 };
  return new Promise((resolve) => {
    let active = links.length;
    const finish = (connection: Connection): void => {
      if (connection.stopped) return;
      connection.stopped = true;
      active -= 1;
      if (active === 0) {
        clearInterval(watchdog);
        resolve(result);
      }
    };
    const send = (connection: Connection): void => {
      if (options.until()) return finish(connection);
      connection.seq = (connection.seq % 9999) + 1;
      connection.waiting = true;
      connection.sentAt = Date.now();
      connection.link.send(frame(connection.account, connection.seq));
    };
    const connections = links.map((link, i): Connection => {
      const connection: Connection = { link, account: String(firstAccount + i), seq: 0, sentAt: 0, waiting: false, stopped: false };
      link.listen(
        (answer) => {
          // After a timeout: a late answer, not one to the frame the panel would send next.
          if (connection.stopped || !connection.waiting) return;
          connection.waiting = false;
          if (isAck(answer, encrypted)) {
            result.acked += 1;
            options.onAck?.();
          } else result.notAcked += 1;
          send(connection);
        },
        () => {
          if (connection.waiting) result.notAcked += 1;
          connection.waiting = false;
          finish(connection);
        },
      );
      return connection;
    });
    // One timer for all connections: an answer overdue by answerTimeoutMs stops its connection (a late answer would
    // be taken for the next frame's).
    const watchdog = setInterval(() => {
      const now = Date.now();
      for (const connection of connections) {
        if (connection.waiting && now - connection.sentAt > options.answerTimeoutMs) {
          connection.waiting = false;
          result.notAcked += 1;
          finish(connection);
        }
      }
    }, 100);
    for (const connection of connections) send(connection);
  });
}

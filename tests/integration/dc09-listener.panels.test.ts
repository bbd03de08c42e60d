import { createCipheriv, createDecipheriv, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dc09Account } from '../../src/pipeline/dc09-receiver.js';
import { TcpPanel, crcArc, stamp, udpExchange } from '../helpers/panel.js';
import { startListener, type ListenerUnderTest } from '../helpers/dc09-listener.js';

/**
 * The DC-09 input against an independent panel-side implementation: jvanovost/dc09_spt, a Python SPT (dialler).
 * Its frames are built here as dc09_spt/msg/dc09_msg.py (dc09block, dc09crypt), dc05_msg.py (dc05event) and
 * dc03_msg.py (dc03event) build them, and every answer must pass the checks of its dc09answer, which decides whether
 * the dialler counts the event as sent. Transport as dc09_spt/comm/transpathtcp.py and transpathudp.py use it: one
 * connection per message, one recv of the answer; over UDP an answer from another port than the one sent to is dropped.
 */

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');

/** dc09_msg: the header fields as `{0:04n}`, `R{0:X}`, `L{0:X}`, `#account[`; CRC and length as `{0:04X}`. */
class Dc09Spt {
  constructor(
    readonly account: string,
    readonly key?: Buffer,
    readonly receiver?: number,
    readonly line?: number,
    /** Seconds its clock is set off by (set_offset after an answer with the receiver's time). */
    public offset = 0,
  ) {}

  block(msgNr = 0, type: 'NULL' | 'SIA-DCS' | 'ADM-CID' = 'NULL', msg = ']'): Buffer {
    let ret = (this.key === undefined ? `"${type}"` : `"*${type}"`) + String(msgNr).padStart(4, '0');
    if (this.receiver !== undefined) ret += `R${this.receiver.toString(16).toUpperCase()}`;
    if (this.line !== undefined) ret += `L${this.line.toString(16).toUpperCase()}`;
    ret += `#${this.account}[`;
    // `if type != "NULL"` compares Python's builtin `type`, so every encrypted message gets the '|', a NULL too.
    ret += this.key === undefined ? msg : this.crypt('|' + msg).toString('hex').toUpperCase();
    return Buffer.from(`\n${hex4(crcArc(ret))}${hex4(ret.length)}${ret}\r`, 'latin1');
  }

  /** 17 - (len+21) % 16 pad characters from chr(20..125) but [ ] |, the data, then the UTC time plus the offset. */
  private crypt(data: string): Buffer {
    let crypt = '';
    for (let i = 0; i < 17 - ((data.length + 21) % 16); i++) {
      let pad: string;
      do pad = String.fromCharCode(20 + randomInt(106));
      while (pad === '[' || pad === ']' || pad === '|');
      crypt += pad;
    }
    crypt += data + stamp(Date.now() + this.offset * 1000);
    const cipher = createCipheriv(`aes-${this.key!.length * 8}-cbc`, this.key!, Buffer.alloc(16)).setAutoPadding(false);
    return Buffer.concat([cipher.update(crypt, 'latin1'), cipher.final()]);
  }

  /**
   * dc09answer, check for check: the length field equals the answer's length minus 10, the CRC over answer[9:-1],
   * the message number at [14:18] (at [15:19] after `"*`) equal to the one sent unless it is a NAK; an encrypted
   * answer is decrypted and its last 21 characters kept; a time after `]_` at the end gives the offset. Throws as it does.
   */
  answer(msgNr: number, bytes: Buffer): { kind: string; offset: number | null } {
    let answer = bytes.toString('utf8');
    const alen = answer.length;
    if (alen < 10) throw new Error('Answer too short');
    if (parseInt(answer.slice(5, 9), 16) !== alen - 10) throw new Error('Answer length not equals content of message');
    if (crcArc(answer.slice(9, -1)) !== parseInt(answer.slice(1, 5), 16)) throw new Error('CRC of Answer incorrect');
    const encrypted = answer[10] === '*';
    const mnrText = encrypted ? answer.slice(15, 19) : answer.slice(14, 18);
    const kind = encrypted ? answer.slice(11, 14) : answer.slice(10, 13);
    if (!/^\d+$/.test(mnrText)) throw new Error(`invalid literal for int(): ${mnrText}`);
    if (Number(mnrText) !== msgNr && kind !== 'NAK') throw new Error('Invalid message number');
    if (encrypted) {
      const ct = Buffer.from(answer.slice(answer.indexOf('[') + 1, alen - 1), 'hex');
      if (ct.length % 16 !== 0) throw new Error('Data length not a multiple of 16');
      const decipher = createDecipheriv(`aes-${this.key!.length * 8}-cbc`, this.key!, Buffer.alloc(16)).setAutoPadding(false);
      answer = Buffer.concat([decipher.update(ct), decipher.final()]).subarray(-21).toString('utf8');
    }
    let tm: string | undefined;
    if (answer.length > 22 && answer.slice(-22, -20) === ']_') tm = answer.slice(-20, -1);
    if (answer.length > 20 && answer.slice(-21, -19) === ']_') tm = answer.slice(-19);
    if (tm === undefined) return { kind, offset: null };
    const m = /^(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})$/.exec(tm);
    if (m === null) throw new Error(`Invalid time string (${tm})`);
    const [, hh, mi, ss, mo, dd, yyyy] = m.map(Number) as number[];
    return { kind, offset: (Date.UTC(yyyy!, mo! - 1, dd!, hh!, mi!, ss!) - Date.now()) / 1000 };
  }
}

/** dc05event: `#account|` q code ' ' area ' ' zone-or-user `]`. */
const dc05event = (account: string, q: string, code: string, area: string, ccc: string): string => `#${account}|${q}${code} ${area} ${ccc}]`;

const KEY_128 = Buffer.from('0123456789ABCDEF', 'latin1');
const KEY_256 = Buffer.from('00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF', 'hex');
const ACCOUNTS: Dc09Account[] = [{ account: '1234' }, { account: '4567', key: KEY_128 }, { account: '7890', key: KEY_256 }];

describe('DC-09 input answering jvanovost/dc09_spt, a Python dialler', () => {
  let gateway: ListenerUnderTest;
  beforeAll(async () => {
    gateway = await startListener({ accounts: ACCOUNTS, sites: [], udp: true, idleTimeoutMs: 5000, maxConnections: 100 });
  });
  afterAll(async () => {
    await gateway.listener.stop();
  });

  const storedSince = (before: number) => gateway.outbox.pending('probe', 1000).map((entry) => entry.event).slice(before);
  const backlog = (): number => gateway.outbox.pending('probe', 1000).length;

  /** transpathtcp: connect, send, one recv(512), disconnect. */
  async function overTcp(frame: Buffer): Promise<Buffer> {
    const panel = await TcpPanel.connect(gateway.port);
    try {
      const answer = await panel.send(frame);
      expect(answer).not.toBeNull();
      return answer!;
    } finally {
      panel.close();
    }
  }

  /** transpathudp: the answer must come from the port the frame went to. */
  async function overUdp(frame: Buffer): Promise<Buffer> {
    const exchange = await udpExchange(gateway.port, frame);
    expect(exchange?.fromPort).toBe(gateway.port);
    return exchange!.answer;
  }

  it.each([
    ['tcp', overTcp, 17],
    ['udp', overUdp, 27],
  ] as const)('over %s: a plain ADM-CID duress (121, user 5, area 1) is ACKed as dc09answer requires and stored as a duress', async (_t, send, msgNr) => {
    const spt = new Dc09Spt('1234', undefined, 1, 1);
    const before = backlog();
    const answer = await send(spt.block(msgNr, 'ADM-CID', dc05event('1234', '1', '121', '01', '005')));
    expect(spt.answer(msgNr, answer)).toEqual({ kind: 'ACK', offset: null });
    expect(storedSince(before)).toEqual([
      expect.objectContaining({ account: '1234', category: 'duress', duress: true, verified: true, user: { number: 5 }, partition: { number: 1 } }),
    ]);
  });

  it.each([
    ['AES-128', '4567', KEY_128],
    ['AES-256', '7890', KEY_256],
  ] as const)('%s: its SIA-DCS hold-up as dc03event writes it (ri, id, ti without slashes, ^name^, |A text) gets an *ACK it reads its clock from', async (_n, account, key) => {
    const spt = new Dc09Spt(account, key);
    const before = backlog();
    const sia = `#${account}|Nri1id5ti10:15:00HA3^Till^|AHold up]`;
    const result = spt.answer(18, await overTcp(spt.block(18, 'SIA-DCS', sia)));
    expect(result.kind).toBe('ACK');
    expect(Math.abs(result.offset!)).toBeLessThan(5);
    expect(storedSince(before)).toEqual([
      expect.objectContaining({ account, duress: true, verified: true, zone: expect.objectContaining({ number: 3 }), user: { number: 5 }, partition: { number: 1 } }),
    ]);
  });

  it.each([
    ['plain', undefined],
    ['encrypted', KEY_128],
  ] as const)('its %s NULL poll (number 0000, an encrypted one "|]" and the time) is ACKed over UDP and stores nothing', async (_n, key) => {
    const spt = new Dc09Spt(key === undefined ? '1234' : '4567', key);
    const before = backlog();
    expect(spt.answer(0, await overUdp(spt.block())).kind).toBe('ACK');
    expect(storedSince(before)).toEqual([]);
  });

  it.each([
    ['tcp', overTcp, 19, 7],
    ['udp', overUdp, 29, 8],
  ] as const)('over %s: a dialler whose clock is an hour ahead gets a NAK it reads the offset from, and is ACKed once it applies it', async (_t, send, msgNr, zone) => {
    const spt = new Dc09Spt('4567', KEY_128, undefined, undefined, 3600);
    const before = backlog();
    const event = dc05event('4567', '1', '122', '01', `00${zone}`);
    const nak = spt.answer(msgNr, await send(spt.block(msgNr, 'ADM-CID', event)));
    expect(nak.kind).toBe('NAK');
    // The offset is the receiver's time less its own (real) clock: about 0 here, where both share one clock.
    expect(Math.abs(nak.offset!)).toBeLessThan(5);
    // transfer_msg: path.set_offset(res[1]); its next attempt carries the receiver's time.
    spt.offset = nak.offset!;
    expect(spt.answer(msgNr, await send(spt.block(msgNr, 'ADM-CID', event))).kind).toBe('ACK');
    expect(storedSince(before).filter((stored) => stored.verified)).toEqual([
      expect.objectContaining({ account: '4567', category: 'holdup', duress: true, zone: expect.objectContaining({ number: zone }) }),
    ]);
  });
});

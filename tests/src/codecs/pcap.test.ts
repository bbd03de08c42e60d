import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureReader, MAX_PACKET_BYTES, captureFormat, type CaptureItem, type CapturedPacket } from '../../../src/codecs/pcap.js';
import { LINKTYPE, ipv4Packet, latin1, linkFrame, pcapFile, pcapngFile, udpPacket, type ByteOrder } from '../../helpers/pcap-writer.js';

// 2024-05-01T08:00:00.120Z plus sub-millisecond parts the reader must floor, not round.
const T0 = Date.UTC(2024, 4, 1, 8, 0, 0, 120);
const FRAME = latin1('\n45930037"SIA-DCS"4197L0#AAA[#AAA|Nri2/JC12]_11:36:49,09-26-2021\r');
const PANEL = { address: '192.0.2.10', port: 40001 };
const RECEIVER = { address: '192.0.2.1', port: 12000 };

const records = [
  { time: T0 + 0.999, data: linkFrame('ethernet', udpPacket(PANEL, RECEIVER, FRAME)) },
  { time: T0 + 5000.5, data: linkFrame('ethernet', udpPacket(PANEL, RECEIVER, latin1('\nA\r'))) },
];

function readAll(file: Uint8Array, chunk = file.length): CaptureItem[] {
  const reader = new CaptureReader();
  const items: CaptureItem[] = [];
  for (let at = 0; at < file.length; at += chunk) {
    // Copied out of each chunk as the reader's contract allows (views are valid until the next push).
    for (const item of reader.push(file.subarray(at, at + chunk))) items.push(item.kind === 'packet' ? { ...item, packet: { ...item.packet, data: new Uint8Array(item.packet.data) } } : item);
  }
  items.push(...reader.end());
  return items;
}

function packetsOf(items: CaptureItem[]): CapturedPacket[] {
  expect(items.filter((i) => i.kind === 'error')).toEqual([]);
  return items.flatMap((i) => (i.kind === 'packet' ? [i.packet] : []));
}

const ORDERS: ByteOrder[] = ['le', 'be'];

describe('captureFormat', () => {
  it('knows pcap in both byte orders and resolutions, and pcapng, by their magic numbers', () => {
    for (const order of ORDERS) {
      for (const nano of [false, true]) expect(captureFormat(pcapFile([], { linkType: 1, order, nano }))).toBe('pcap');
      expect(captureFormat(pcapngFile([], { interfaces: [], order }))).toBe('pcapng');
    }
  });

  it('takes JSON lines, plain logs and short files for what they are', () => {
    expect(captureFormat(latin1('{"t":"2024-05-01T08:00:00Z"'))).toBeNull();
    expect(captureFormat(latin1('\\n4593'))).toBeNull();
    expect(captureFormat(Uint8Array.of(0xd4, 0xc3))).toBeNull();
  });
});

describe('CaptureReader: pcap', () => {
  for (const order of ORDERS) {
    for (const nano of [false, true]) {
      it(`reads ${order === 'le' ? 'little' : 'big'}-endian ${nano ? 'nanosecond' : 'microsecond'} files: link type, time floored to the ms, bytes`, () => {
        const file = pcapFile(records, { linkType: LINKTYPE.ethernet, order, nano });
        const packets = packetsOf(readAll(file));
        expect(packets.map((p) => [p.number, p.linkType, p.time])).toEqual([
          [1, 1, T0],
          [2, 1, T0 + 5000],
        ]);
        expect(packets[0]!.data).toEqual(records[0]!.data);
        expect(packets[0]!.wireLength).toBe(records[0]!.data.length);
      });
    }
  }

  it('reads the same packets when the file arrives a byte at a time', () => {
    const file = pcapFile(records, { linkType: LINKTYPE.ethernet, order: 'be' });
    expect(packetsOf(readAll(file, 1))).toEqual(packetsOf(readAll(file)));
  });

  it('gives PCAP_TRUNCATED after the whole packets when the file ends inside a record (tcpdump killed mid-write)', () => {
    const file = pcapFile(records, { linkType: LINKTYPE.ethernet });
    const items = readAll(file.subarray(0, file.length - 7), 64);
    expect(items.filter((i) => i.kind === 'packet')).toHaveLength(1);
    const last = items.at(-1)!;
    expect(last.kind === 'error' && last.error.code).toBe('PCAP_TRUNCATED');
    expect(last.kind === 'error' && [last.number, last.error.message]).toEqual([2, expect.stringMatching(/cut short in a record at byte \d+/)]);
  });

  it('gives PCAP_TRUNCATED for a file cut inside its header', () => {
    const items = readAll(pcapFile([], { linkType: 1 }).subarray(0, 10));
    expect(items).toEqual([{ kind: 'error', number: 1, error: { code: 'PCAP_TRUNCATED', message: expect.stringContaining('its file header') } }]);
  });

  it('skips a record larger than a packet is read with, unheld, and reads the packets after it', () => {
    // A hostile capture (or a host's 2 MiB GRO super-packet, with a snap length to match) must not stop the reading
    // and hide the frames after it: the record is skipped as it streams past, never buffered.
    const huge = { time: T0 + 1, data: new Uint8Array(MAX_PACKET_BYTES + 1) };
    const file = pcapFile([records[0]!, huge, records[1]!], { linkType: LINKTYPE.ethernet, snapLength: 0xffffffff });
    const items = readAll(file, 64 * 1024);
    expect(items.map((i) => (i.kind === 'packet' ? i.packet.number : i.error.code))).toEqual([1, 'PCAP_PACKET_MALFORMED', 3]);
    expect(items[1]).toEqual({ kind: 'error', number: 2, error: { code: 'PCAP_PACKET_MALFORMED', message: `record 2 at byte ${24 + 16 + records[0]!.data.length} claims ${MAX_PACKET_BYTES + 1} bytes, more than a packet is read with (${MAX_PACKET_BYTES}); skipped` } });
    expect(items[2]).toMatchObject({ kind: 'packet', packet: { data: records[1]!.data } });
  });

  it('skips a record claiming 2 GiB to the end of a file that holds less, and says the file ended inside it', () => {
    const file = pcapFile(records, { linkType: LINKTYPE.ethernet });
    // The first record's captured length (after the 24-byte header, 8 bytes of time): 2 GiB.
    new DataView(file.buffer).setUint32(24 + 8, 0x8000_0000, true);
    expect(readAll(file).map((i) => (i.kind === 'packet' ? i.packet.number : i.error.code))).toEqual(['PCAP_PACKET_MALFORMED', 'PCAP_TRUNCATED']);
  });

  it('refuses a version other than 2.x', () => {
    const file = pcapFile([], { linkType: 1 });
    new DataView(file.buffer).setUint16(4, 3, true);
    expect(readAll(file)).toEqual([{ kind: 'error', number: 1, error: { code: 'PCAP_FORMAT_INVALID', message: 'pcap version 3.4 is not 2.x' } }]);
  });
});

describe('CaptureReader: pcapng', () => {
  for (const order of ORDERS) {
    it(`reads ${order === 'le' ? 'little' : 'big'}-endian sections: interfaces with their link types and resolutions, enhanced and simple packet blocks, other blocks skipped`, () => {
      const file = pcapngFile(
        [
          { time: records[0]!.time, data: records[0]!.data },
          { time: T0 + 7000.25, data: ipv4Packet('192.0.2.10', '192.0.2.1', 17, new Uint8Array(8)), interfaceId: 1 },
          { time: 0, data: records[1]!.data, simple: true },
        ],
        { interfaces: [{ linkType: LINKTYPE.ethernet }, { linkType: LINKTYPE.raw, resolution: 9 }], order },
      );
      const packets = packetsOf(readAll(file, 5));
      expect(packets.map((p) => [p.number, p.linkType, p.time])).toEqual([
        [1, 1, T0],
        [2, 101, T0 + 7000],
        [3, 1, null],
      ]);
      expect(packets[2]!.data).toEqual(records[1]!.data);
    });
  }

  it('skips a block of no interest larger than any packet without holding it', () => {
    const file = pcapngFile([{ time: T0, data: records[0]!.data }], { interfaces: [{ linkType: 1 }] });
    // A 3 MiB custom block (type 0x00000BAD) between the header blocks and the packet.
    const big = new Uint8Array(3 << 20);
    const view = new DataView(big.buffer);
    view.setUint32(0, 0xbad, true);
    view.setUint32(4, big.length, true);
    view.setUint32(big.length - 4, big.length, true);
    const firstPacket = file.length - (12 + 20 + records[0]!.data.length + ((4 - (records[0]!.data.length % 4)) % 4));
    const joined = new Uint8Array(file.length + big.length);
    joined.set(file.subarray(0, firstPacket), 0);
    joined.set(big, firstPacket);
    joined.set(file.subarray(firstPacket), firstPacket + big.length);
    expect(packetsOf(readAll(joined, 64 * 1024)).map((p) => p.time)).toEqual([T0]);
  });

  it('skips a packet block larger than a packet is read with, unheld, and reads the packets after it', () => {
    // Its block: 32 bytes of fields and trailer around the data, past the room a block is read with.
    const huge = { time: T0 + 1, data: new Uint8Array(MAX_PACKET_BYTES + 64) };
    const file = pcapngFile([records[0]!, huge, records[1]!], { interfaces: [{ linkType: 1 }] });
    const items = readAll(file, 64 * 1024);
    expect(items.map((i) => (i.kind === 'packet' ? i.packet.number : i.error.code))).toEqual([1, 'PCAP_PACKET_MALFORMED', 3]);
    expect(items[1]).toMatchObject({ number: 2, error: { message: expect.stringContaining(`more than a packet is read with (${MAX_PACKET_BYTES}); skipped`) } });
  });

  it('reads on past blocks of unknown types, and stops loudly at one whose length swallows the packet after it', () => {
    const file = pcapngFile(records, { interfaces: [{ linkType: 1 }] });
    const secondPacket = file.length - (12 + 20 + records[1]!.data.length + ((4 - (records[1]!.data.length % 4)) % 4));
    /** A block of `type` with a 4-byte body, its length field saying `claimed`, its trailer the 16 it has. */
    const unknown = (type: number, claimed = 16) => {
      const block = new Uint8Array(16);
      const view = new DataView(block.buffer);
      view.setUint32(0, type, true);
      view.setUint32(4, claimed, true);
      view.setUint32(12, 16, true);
      return block;
    };
    const withBlocks = (...blocks: Uint8Array[]) => Uint8Array.from([...file.subarray(0, secondPacket), ...blocks.flatMap((b) => [...b]), ...file.subarray(secondPacket)]);
    // Custom (0xBAD, 0x40000BAD), local-use (0x80000001) and future standard (0x2B) types: skipped, byte by byte too.
    const known = withBlocks(unknown(0xbad), unknown(0x40000bad), unknown(0x80000001), unknown(0x2b));
    expect(packetsOf(readAll(known, 3)).map((p) => p.number)).toEqual([1, 2]);
    // A hostile block whose length takes in the packet after it: skipped unread and unchecked, the packet (a duress?)
    // vanished without a word. Its trailer is then the packet's, not its length: the file does not parse there.
    const swallowing = withBlocks(unknown(0xbad, 16 + file.length - secondPacket));
    for (const chunk of [swallowing.length, 7]) {
      const items = readAll(swallowing, chunk);
      expect(items.map((i) => (i.kind === 'packet' ? i.packet.number : i.error.code))).toEqual([1, 'PCAP_FORMAT_INVALID']);
      expect(items[1]).toMatchObject({ error: { message: expect.stringContaining('does not end with its length') } });
    }
    // A file that ends right before a skipped block's trailer was cut short.
    expect(readAll(known.subarray(0, secondPacket + 12)).at(-1)).toMatchObject({ kind: 'error', error: { code: 'PCAP_TRUNCATED' } });
  });

  it('gives PCAP_FORMAT_INVALID for a block that does not end with its length, and PCAP_TRUNCATED for one cut short', () => {
    const file = pcapngFile(records, { interfaces: [{ linkType: 1 }] });
    const damaged = new Uint8Array(file);
    damaged[damaged.length - 1] = 0xee;
    const items = readAll(damaged);
    expect(items.at(-1)).toEqual({ kind: 'error', number: 2, error: { code: 'PCAP_FORMAT_INVALID', message: expect.stringContaining('does not end with its length') } });
    const cut = readAll(file.subarray(0, file.length - 3));
    expect(cut.filter((i) => i.kind === 'packet')).toHaveLength(1);
    expect(cut.at(-1)).toMatchObject({ kind: 'error', number: 2, error: { code: 'PCAP_TRUNCATED' } });
  });

  it('gives no time for a timestamp past what a date can hold, and reads the packet and the next on', () => {
    // A damaged or hostile block: 2^64-1 microseconds is 1.8e16 ms, past the 8.64e15 ms a Date holds, and every
    // event built from it failed ("Invalid time value"), stopping `decode --pcap` there.
    for (const order of ORDERS) {
      const file = pcapngFile(records, { interfaces: [{ linkType: 1 }], order });
      const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
      const last = file.length - view.getUint32(file.length - 4, order === 'le');
      view.setUint32(last + 12, 0xffffffff, order === 'le');
      view.setUint32(last + 16, 0xffffffff, order === 'le');
      const first = file.length - view.getUint32(last - 4, order === 'le') - (file.length - last);
      view.setUint32(first + 12, 0x80000000, order === 'le');
      expect(packetsOf(readAll(file)).map((p) => [p.number, p.time, p.data.length])).toEqual([
        [1, null, records[0]!.data.length],
        [2, null, records[1]!.data.length],
      ]);
    }
  });

  it('counts a packet on an interface never described as malformed, and reads on', () => {
    const file = pcapngFile([{ ...records[0]!, interfaceId: 3 }, records[1]!], { interfaces: [{ linkType: 1 }] });
    const items = readAll(file);
    expect(items.map((i) => (i.kind === 'packet' ? i.packet.number : i.error.code))).toEqual(['PCAP_PACKET_MALFORMED', 2]);
  });
});

/** tshark, when installed, cross-checks that the test files are what Wireshark reads. Tests never need it. */
function tshark(): string | null {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return 'tshark';
  } catch {
    return null;
  }
}

describe.skipIf(tshark() === null)('the test files, as tshark reads them', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pcap-'));
  const files: Array<[string, Uint8Array]> = [
    ['le-micro.pcap', pcapFile(records, { linkType: LINKTYPE.ethernet, order: 'le' })],
    ['be-nano.pcap', pcapFile(records, { linkType: LINKTYPE.ethernet, order: 'be', nano: true })],
    ['le.pcapng', pcapngFile(records, { interfaces: [{ linkType: LINKTYPE.ethernet }], order: 'le' })],
    ['be.pcapng', pcapngFile(records, { interfaces: [{ linkType: LINKTYPE.ethernet, resolution: 9 }], order: 'be' })],
  ];
  for (const [name, bytes] of files) {
    it(`${name}: the same times, addresses and payloads`, () => {
      const file = path.join(dir, name);
      writeFileSync(file, bytes);
      const fields = ['frame.time_epoch', 'ip.src', 'udp.srcport', 'ip.dst', 'udp.dstport', 'udp.payload'];
      const out = execFileSync('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
      const rows = out.trim().split('\n').map((l) => l.split('\t'));
      expect(rows.map((r) => Math.floor(Number(r[0]) * 1000))).toEqual(packetsOf(readAll(bytes)).map((p) => p.time));
      expect(rows[0]!.slice(1, 5)).toEqual(['192.0.2.10', '40001', '192.0.2.1', '12000']);
      expect(rows[0]![5]).toBe(Buffer.from(FRAME).toString('hex'));
    });
  }
});

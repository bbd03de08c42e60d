import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSiaBlock } from '../../src/codecs/sia-dc03-block.js';
import { CLI, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { LINKTYPE, PROTOCOL, TcpConversation, ipv4Fragments, latin1, linkFrame, pcapFile, pcapngFile, udpDatagram, udpPacket, type LinkType } from '../helpers/pcap-writer.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `input`, when given, is written to its standard input (`-` as the file). */
function cli(args: string[], input?: Uint8Array): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? -1), stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

interface Record {
  t: string;
  input: string;
  transport: 'tcp' | 'udp';
  peer: string;
  hex: string;
}

/**
 * The DC-09 lines of the golden capture (tests/cli/replay/capture.jsonl; each names its public source): frames
 * of real panels (Ajax, Hikvision, an account not allowed, a CRC mismatch, an encrypted duress) over TCP and UDP.
 */
const GOLDEN = new URL('./replay/capture.jsonl', import.meta.url).pathname;
const records = readFileSync(GOLDEN, 'utf8')
  .trimEnd()
  .split('\n')
  .map((l) => JSON.parse(l) as Record)
  .filter((r) => r.input === 'panels');

const RECEIVER = { address: '192.0.2.1', port: 12000 };
const ACK = latin1('\n59890012"ACK"0000L0#1409[]\r');

/**
 * The same frames as the packets a capture on the receiver would hold: each TCP panel's connection opened before
 * its first frame, every frame answered by the receiver, its frames cut in three segments, the last sent before the
 * middle one and the first sent twice; each UDP frame one datagram.
 */
function packetsOf(link: LinkType): Array<{ time: number; data: Uint8Array }> {
  const connections = new Map<string, TcpConversation>();
  const packets: Array<{ time: number; data: Uint8Array }> = [];
  for (const record of records) {
    const at = Date.parse(record.t);
    const [address, port] = [record.peer.slice(0, record.peer.lastIndexOf(':')), Number(record.peer.slice(record.peer.lastIndexOf(':') + 1))];
    const frame = Uint8Array.from(Buffer.from(record.hex, 'hex'));
    const add = (data: Uint8Array, time = at) => packets.push({ time, data: linkFrame(link, data) });
    if (record.transport === 'udp') {
      add(udpPacket({ address, port }, RECEIVER, frame));
      add(udpPacket(RECEIVER, { address, port }, ACK), at + 5);
      continue;
    }
    let tcp = connections.get(record.peer);
    if (tcp === undefined) {
      tcp = new TcpConversation({ address, port }, RECEIVER);
      connections.set(record.peer, tcp);
      for (const packet of tcp.open()) add(packet, at - 10);
    }
    const first = tcp.nextSeq;
    const [p1, p2, p3] = tcp.send(frame, [20, 20, frame.length - 40]);
    add(p1!, at - 3);
    add(p3!, at - 2);
    add(tcp.segmentAt(first, frame.subarray(0, 20)), at - 1);
    // The packet that fills the hole completes the frame: its time is the frame's.
    add(p2!);
    add(tcp.answer(ACK), at + 5);
  }
  return packets;
}

describe('panelbridge replay and decode of a packet capture', () => {
  const dir = tempDir('replay-pcap');
  const config = (port: number) =>
    writeConfig(mkdirSync(path.join(dir, `port-${port}`), { recursive: true }) ?? path.join(dir, `port-${port}`), {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'panels', port, accounts: [{ account: 'AAA' }, { account: '1111' }, { account: 'AAAB' }, { account: '5678', key: '0123456789ABCDEF0123456789ABCDEF', keyEncoding: 'hex' }] }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
  const jsonLines = path.join(dir, 'capture.jsonl');
  writeFileSync(jsonLines, records.map((r) => JSON.stringify(r)).join('\n') + '\n');

  it('gives the same events as the JSON-lines capture of the same frames: pcap, pcapng, by port and by who speaks first', async () => {
    const expected = await cli(['replay', jsonLines, '--config', config(0), '--dry-run', '--fast']);
    expect(expected.code).toBe(0);
    expect(expected.stdout.trim().split('\n')).toHaveLength(5);
    const files: Array<[string, Uint8Array, number]> = [
      ['ethernet-le.pcap', pcapFile(packetsOf('ethernet'), { linkType: LINKTYPE.ethernet, order: 'le' }), 12000],
      ['vlan-be-nano.pcap', pcapFile(packetsOf('ethernet-vlan'), { linkType: LINKTYPE['ethernet-vlan'], order: 'be', nano: true }), 0],
      ['sll2-be.pcapng', pcapngFile(packetsOf('sll2'), { interfaces: [{ linkType: LINKTYPE.sll2, resolution: 9 }], order: 'be' }), 12000],
    ];
    for (const [name, bytes, port] of files) {
      const file = path.join(dir, name);
      writeFileSync(file, bytes);
      const replayed = await cli(['replay', file, '--config', config(port), '--dry-run', '--fast']);
      expect(replayed.stderr, name).toContain(`replay: ${records.length} frame(s) from ${packetsOf('raw').length} packet(s)`);
      expect(replayed.stdout, name).toBe(expected.stdout);
      expect(replayed.code, name).toBe(0);
    }
  });

  it('reads a packet capture, or a capture, from standard input given as `-` (tcpdump -w - | panelbridge replay -)', async () => {
    const expected = await cli(['replay', jsonLines, '--config', config(0), '--dry-run', '--fast']);
    for (const [name, bytes] of [
      ['pcapng', pcapngFile(packetsOf('ethernet'), { interfaces: [{ linkType: LINKTYPE.ethernet }] })],
      ['capture', readFileSync(jsonLines)],
    ] as const) {
      const replayed = await cli(['replay', '-', '--config', config(12000), '--dry-run', '--fast'], bytes);
      expect(replayed.stderr, name).not.toContain('cannot read');
      expect(replayed.stdout, name).toBe(expected.stdout);
      expect(replayed.code, name).toBe(0);
    }
  });

  it('replays a datagram the panel sent in IPv4 fragments, and reports fragments it could not reassemble', async () => {
    const udp = records.find((r) => r.transport === 'udp')!;
    const [address, port] = [udp.peer.slice(0, udp.peer.lastIndexOf(':')), Number(udp.peer.slice(udp.peer.lastIndexOf(':') + 1))];
    const datagram = udpDatagram(port, RECEIVER.port, Uint8Array.from(Buffer.from(udp.hex, 'hex')));
    const fragments = ipv4Fragments(address, RECEIVER.address, PROTOCOL.udp, datagram, 32, 1);
    // A second datagram of which only the first fragment was captured.
    const [lost] = ipv4Fragments(address, RECEIVER.address, PROTOCOL.udp, datagram, 32, 2);
    const at = Date.parse(udp.t);
    const file = path.join(dir, 'fragments.pcap');
    writeFileSync(file, pcapFile([...fragments.reverse(), lost!].map((ip, i) => ({ time: at + i, data: linkFrame('raw', ip) })), { linkType: LINKTYPE.raw }));
    const result = await cli(['replay', file, '--config', config(12000), '--dry-run', '--fast']);
    expect(result.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { raw: string }).raw)).toHaveLength(1);
    expect(result.stderr).toContain(`${fragments.length + 1} IP fragment(s): 1 datagram(s) reassembled, 1 incomplete and skipped`);
    expect(result.stderr).toMatch(/PCAP_IP_FRAGMENTS_INCOMPLETE: the IP datagram .* id 2 was given up after 1 fragment\(s\): the capture ended/);
    expect(result.code).toBe(2);
  });

  it('decode --pcap prints each frame\'s events with its packet time and sender, and an error line for one that does not decode', async () => {
    const file = path.join(dir, 'decode.pcap');
    writeFileSync(file, pcapFile(packetsOf('ethernet'), { linkType: LINKTYPE.ethernet }));
    const result = await cli(['decode', '--pcap', file]);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: { code: string; message: string }; receivedAt?: string; source?: unknown; code?: { value: string } | null });
    // Vector 26, its retransmit, vector 4, the NULL link test (vector 31, no code), vector 25, vector 39; the two
    // encrypted frames without --key and the bad CRC refused.
    expect(lines.map((l) => l.error?.code ?? l.code?.value ?? null)).toEqual(['JC', 'JC', 'PA', null, 'RP', '401', 'DC09_KEY_MISSING', 'DC09_CRC_MISMATCH', 'DC09_KEY_MISSING']);
    expect(lines[2]).toMatchObject({ receivedAt: '2024-05-01T08:00:05.000Z', source: { input: 'cli', transport: 'udp', peer: '192.0.2.11:5072' } });
    expect(lines[6]!.error!.message).toMatch(/^packet \d+: /);
    expect(result.code).toBe(1);
  });

  it('replays the packets before a cut-short end, names the cut with its packet, and exits 2', async () => {
    const bytes = pcapFile(packetsOf('raw'), { linkType: LINKTYPE.raw });
    const file = path.join(dir, 'cut.pcap');
    writeFileSync(file, bytes.subarray(0, bytes.length - 30));
    const result = await cli(['replay', file, '--config', config(12000), '--dry-run', '--fast']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/packet \d+: PCAP_TRUNCATED: the capture was cut short in a record at byte \d+/);
    expect(result.stdout.trim().split('\n')).toHaveLength(5);
  });

  it('says so and exits 1 when --pcap is given a file that is no capture', async () => {
    const result = await cli(['decode', '--pcap', jsonLines]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({ error: { code: 'PCAP_FORMAT_INVALID', message: `${jsonLines} is not a pcap or pcapng file (no magic number)` } });
  });

  it('decode --pcap - reads the capture from standard input, and refuses standard input that is no capture', async () => {
    const bytes = pcapFile(packetsOf('ethernet'), { linkType: LINKTYPE.ethernet });
    const file = path.join(dir, 'decode-stdin.pcap');
    writeFileSync(file, bytes);
    const fromFile = await cli(['decode', '--pcap', file]);
    const fromStdin = await cli(['decode', '--pcap', '-'], bytes);
    // Event ids are random: the rest is the same.
    const withoutIds = (stdout: string) => stdout.trim().split('\n').map((l) => ({ ...(JSON.parse(l) as object), id: undefined }));
    expect(withoutIds(fromStdin.stdout)).toEqual(withoutIds(fromFile.stdout));
    expect(fromStdin.code).toBe(1);
    const notCapture = await cli(['decode', '--pcap', '-'], readFileSync(jsonLines));
    expect(JSON.parse(notCapture.stdout)).toEqual({ error: { code: 'PCAP_FORMAT_INVALID', message: 'standard input is not a pcap or pcapng file (no magic number)' } });
    expect(notCapture.code).toBe(1);
  });

  it('replays a SIA over IP session sent to a sia-ip input\'s port, each connection with its own account, as run --capture does', async () => {
    // The session of tests/cli/replay.test.ts "a SIA over IP capture" (the FX020's account block,
    // eavanvalkenburg/sia#32; a hold-up), as the packets a capture on the receiver holds: the panel loses its first
    // connection before the hold-up's acknowledge and sends the session again from a new port.
    const galaxy = { address: '192.0.2.1', port: 10002 };
    const account = latin1('D#0192\x92');
    const holdup = encodeSiaBlock('N', 'ti11:46/HA1011', true);
    const acknowledge = Uint8Array.of(0x40, 0x38, 0x87);
    const first = new TcpConversation({ address: '192.0.2.10', port: 40001 }, galaxy);
    const second = new TcpConversation({ address: '192.0.2.10', port: 40002 }, galaxy);
    const at = Date.parse('2024-05-01T08:00:00.000Z');
    const ip = [...first.open(), ...first.send(account), first.answer(acknowledge), ...first.send(holdup), ...second.open(), ...second.send(account), second.answer(acknowledge), ...second.send(holdup), second.answer(acknowledge), ...second.send(encodeSiaBlock('0', '', true)), second.answer(acknowledge), second.close()];
    const file = path.join(dir, 'sia-ip.pcap');
    writeFileSync(file, pcapFile(ip.map((data, i) => ({ time: at + 100 * i, data: linkFrame('ethernet', data) })), { linkType: LINKTYPE.ethernet }));
    const siaConfig = writeConfig(mkdirSync(path.join(dir, 'sia-ip'), { recursive: true }) ?? path.join(dir, 'sia-ip'), {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'sia-ip', name: 'galaxy', host: '127.0.0.1', port: galaxy.port }],
      outputs: [{ type: 'stdout', name: 'out' }],
    });
    const result = await cli(['replay', file, '--config', siaConfig, '--dry-run', '--fast']);
    const events = result.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { account: string; duress: boolean; source: { input: string; peer: string } });
    expect(events.map((e) => [e.account, e.duress, e.source.input, e.source.peer])).toEqual([['0192', true, 'galaxy', '192.0.2.10:40001']]);
    expect(result.stderr).toContain('replay: 5 frame(s) from');
    expect(result.stderr).toContain('1 retransmit(s) stored once');
    expect(result.code).toBe(0);
  });

  it('names the other copy of a retransmission that carries other bytes, with its bytes, and exits 2', async () => {
    // The golden capture's first TCP frame, forged (one digit of its data changed) and sent first with its sequence
    // numbers: the copy read first is replayed, as the receiving host read it; the panel's own copy is shown.
    const record = records.find((r) => r.transport === 'tcp')!;
    const frame = Uint8Array.from(Buffer.from(record.hex, 'hex'));
    const forged = Uint8Array.from(frame);
    const digit = Buffer.from(frame).toString('latin1').indexOf('[') + 2;
    forged[digit] = forged[digit] === 0x31 ? 0x32 : 0x31;
    const tcp = new TcpConversation({ address: '192.0.2.10', port: 40001 }, RECEIVER);
    const ip = [...tcp.open(), tcp.segmentAt(tcp.nextSeq, forged), ...tcp.send(frame)];
    const file = path.join(dir, 'conflict.pcap');
    writeFileSync(file, pcapFile(ip.map((data, i) => ({ time: Date.parse(record.t) + i, data: linkFrame('ethernet', data) })), { linkType: LINKTYPE.ethernet }));
    const result = await cli(['replay', file, '--config', config(12000), '--dry-run', '--fast']);
    expect(result.stderr).toMatch(/packet 5: PCAP_TCP_CONFLICT: \d+ byte\(s\) from 192\.0\.2\.10:40001 came again with other content/);
    expect(result.stderr).toContain('1 error(s) reading the capture, at packet(s) 5');
    expect(result.code).toBe(2);
  });
});

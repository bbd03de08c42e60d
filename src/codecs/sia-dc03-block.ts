/**
 * The SIA DC-03 block layer: the binary blocks a receiver's serial line or a panel's "SIA over IP" carries, apart from
 * the data they hold (sia-dc03.ts reads that). Kept apart so the DC-09 socket worker, which only needs to recognise
 * blocks, does not load the code catalogue the data parser needs.
 */
import { GatewayError } from '../errors.js';
import type { Framer, FramerOutput } from './framing.js';
import { fail, ok } from './result.js';
import type { DecodeResult } from './result.js';

export interface SiaBlock {
  functionCode: string;
  /** Data bytes as Latin-1 text. */
  data: string;
  /** Header bit 6: the sender waits for an acknowledge block. */
  ackRequested: boolean;
  /** Header bit 7: the sender offers the reverse channel. */
  reverseChannel: boolean;
}

/** Function codes of openGalaxy's `enum FunctionCode`, plus the alternative acknowledge/reject 0x08/0x09. */
const FUNCTION_CODES: ReadonlySet<string> = new Set([...'0123456789CENOP@?#&AXLVvI', '\x08', '\x09']);
const HEADER_LENGTH_MASK = 0x3f;
const HEADER_ACK_REQUEST = 0x40;
const HEADER_REVERSE_CHANNEL = 0x80;
const MAX_BLOCK_DATA = 63;
const BLOCK_OVERHEAD = 3;

function blockParity(bytes: Uint8Array, end: number): number {
  let parity = 0xff;
  for (let i = 0; i < end; i++) parity ^= bytes[i] ?? 0;
  return parity;
}

function hexByte(value: number): string {
  return '0x' + value.toString(16).padStart(2, '0');
}

/**
 * One binary DC-03 block: header (bits 0-5 data length, bit 6 acknowledge request, bit 7 reverse channel),
 * function code, 0-63 data bytes, parity = 0xFF XOR every preceding byte (openGalaxy `Siablock.hpp`).
 * The bytes must be exactly one block; the stream framer cuts them. A whole block whose function code DC-03 does
 * not define is SIA03_FUNCTION_UNSUPPORTED; readUnsupportedSiaBlock reads it.
 */
export function decodeSiaBlock(bytes: Uint8Array): DecodeResult<SiaBlock> {
  const read = readSiaBlock(bytes);
  if (read.ok && !FUNCTION_CODES.has(read.value.functionCode)) {
    return fail('SIA03_FUNCTION_UNSUPPORTED', `unknown function code ${hexByte(bytes[1] ?? 0)}`, bytes);
  }
  return read;
}

/** A block whose length and parity are right but whose function code DC-03 does not define, else null. */
export function readUnsupportedSiaBlock(bytes: Uint8Array): SiaBlock | null {
  const read = readSiaBlock(bytes);
  return read.ok && !FUNCTION_CODES.has(read.value.functionCode) ? read.value : null;
}

/** The block's length and parity checked, whatever its function code. */
function readSiaBlock(bytes: Uint8Array): DecodeResult<SiaBlock> {
  if (bytes.length < BLOCK_OVERHEAD) {
    return fail('SIA03_FORMAT_INVALID', `a SIA block has at least ${BLOCK_OVERHEAD} bytes, got ${bytes.length}`, bytes);
  }
  const header = bytes[0] ?? 0;
  const dataLength = header & HEADER_LENGTH_MASK;
  if (bytes.length !== dataLength + BLOCK_OVERHEAD) {
    return fail(
      'SIA03_FORMAT_INVALID',
      `the header announces ${dataLength} data bytes (a ${dataLength + BLOCK_OVERHEAD}-byte block), got ${bytes.length} bytes`,
      bytes,
    );
  }
  const expected = blockParity(bytes, bytes.length - 1);
  const sent = bytes[bytes.length - 1] ?? 0;
  if (sent !== expected) {
    return fail('SIA03_PARITY', `parity byte is ${hexByte(sent)}, the block needs ${hexByte(expected)}`, bytes);
  }
  return ok({
    functionCode: String.fromCharCode(bytes[1] ?? 0),
    data: Buffer.from(bytes.subarray(2, 2 + dataLength)).toString('latin1'),
    ackRequested: (header & HEADER_ACK_REQUEST) !== 0,
    reverseChannel: (header & HEADER_REVERSE_CHANNEL) !== 0,
  });
}

/** The DC-03 header byte announces the data length in bits 0-5: the size of the whole block it starts. */
export function siaBlockSize(header: number): number {
  return (header & HEADER_LENGTH_MASK) + BLOCK_OVERHEAD;
}

/**
 * The fixed bytes a Galaxy Ethernet module opens an encrypted connection with (ioBroker.sia #12, SIA-Server
 * `Encrypted_Protocol.md`): its own RSA/AES exchange, which the SIA over IP input does not speak.
 */
export const GALAXY_ENCRYPTED_OPENING = Uint8Array.of(0x05, 0x01, 0x81, 0x59, 0x68);

/**
 * One SIA over IP connection's bytes cut into DC-03 blocks, each as long as its header says: the live sia-ip input
 * and a replay of a packet capture cut the same stream the same way. A connection that opens with the Galaxy
 * module's encryption carries no blocks: its bytes are discarded (FRAME_SIA_ENCRYPTED), and so is all it sends
 * after (the live input closes it). Holds at most one partial block (66 bytes).
 */
export class SiaBlockFramer implements Framer {
  private pending: Uint8Array = new Uint8Array(0);
  private blocks = 0;
  private encrypted = false;

  /** Bytes of a block not yet whole. */
  get held(): number {
    return this.pending.length;
  }

  push(chunk: Uint8Array): FramerOutput[] {
    if (this.encrypted) return chunk.length === 0 ? [] : [{ kind: 'discarded', bytes: new Uint8Array(chunk), reason: 'FRAME_SIA_ENCRYPTED' }];
    const pending = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const out: FramerOutput[] = [];
    let at = 0;
    while (at < pending.length) {
      if (this.blocks === 0 && startsWith(pending, GALAXY_ENCRYPTED_OPENING)) {
        this.encrypted = true;
        out.push({ kind: 'discarded', bytes: pending.slice(), reason: 'FRAME_SIA_ENCRYPTED' });
        at = pending.length;
        break;
      }
      const size = siaBlockSize(pending[at]!);
      if (pending.length - at < size) break;
      out.push({ kind: 'frame', bytes: pending.slice(at, at + size) });
      this.blocks += 1;
      at += size;
    }
    // Its own copy: never a view into the caller's chunk.
    this.pending = pending.slice(at);
    return out;
  }

  /** Drops a partial block (the connection idled out, or a capture lost the bytes after it). */
  flush(): FramerOutput[] {
    return this.drop('FRAME_IDLE_TIMEOUT');
  }

  /** The sender closed its side: a partial block was cut short. */
  end(): FramerOutput[] {
    return this.drop('FRAME_TRUNCATED');
  }

  private drop(reason: 'FRAME_IDLE_TIMEOUT' | 'FRAME_TRUNCATED'): FramerOutput[] {
    if (this.pending.length === 0) return [];
    const bytes = this.pending;
    this.pending = new Uint8Array(0);
    return [{ kind: 'discarded', bytes, reason }];
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

/**
 * Whether the bytes are one or more whole DC-03 blocks back to back, each with its parity right: what a
 * communicator set to SIA over IP (DC-03 blocks on TCP, no DC-09 framing) puts on a DC-09 port.
 */
export function isSiaBlockRun(bytes: Uint8Array): boolean {
  let at = 0;
  while (at < bytes.length) {
    const size = siaBlockSize(bytes[at]!);
    if (at + size > bytes.length || !decodeSiaBlock(bytes.subarray(at, at + size)).ok) return false;
    at += size;
  }
  return at > 0;
}

/** Builds one DC-03 block; a bad function code or data over 63 Latin-1 bytes is a caller bug and throws. */
export function encodeSiaBlock(functionCode: string, data: string, ackRequested = false): Uint8Array {
  if (!FUNCTION_CODES.has(functionCode)) {
    throw new GatewayError('SIA03_FORMAT_INVALID', `"${functionCode}" is not a SIA function code`);
  }
  if (data.length > MAX_BLOCK_DATA || /[^\x00-\xff]/.test(data)) {
    throw new GatewayError('SIA03_FORMAT_INVALID', `block data must be at most ${MAX_BLOCK_DATA} Latin-1 characters`);
  }
  const block = new Uint8Array(data.length + BLOCK_OVERHEAD);
  block[0] = data.length | (ackRequested ? HEADER_ACK_REQUEST : 0);
  block[1] = functionCode.charCodeAt(0);
  block.set(Buffer.from(data, 'latin1'), 2);
  block[block.length - 1] = blockParity(block, block.length - 1);
  return block;
}

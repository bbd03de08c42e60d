/**
 * The SIA DC-03 block layer: the binary blocks a receiver's serial line or a panel's "SIA over IP" carries, apart from
 * the data they hold (sia-dc03.ts reads that). Kept apart so the DC-09 socket worker, which only needs to recognise
 * blocks, does not load the code catalogue the data parser needs.
 */
import { GatewayError } from '../errors.js';
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
 * The bytes must be exactly one block; the stream framer cuts them.
 */
export function decodeSiaBlock(bytes: Uint8Array): DecodeResult<SiaBlock> {
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
  const functionCode = String.fromCharCode(bytes[1] ?? 0);
  if (!FUNCTION_CODES.has(functionCode)) {
    return fail('SIA03_FORMAT_INVALID', `unknown function code ${hexByte(bytes[1] ?? 0)}`, bytes);
  }
  return ok({
    functionCode,
    data: Buffer.from(bytes.subarray(2, 2 + dataLength)).toString('latin1'),
    ackRequested: (header & HEADER_ACK_REQUEST) !== 0,
    reverseChannel: (header & HEADER_REVERSE_CHANNEL) !== 0,
  });
}

/**
 * Whether the bytes are one or more whole DC-03 blocks back to back, each with its parity right: what a
 * communicator set to SIA over IP (DC-03 blocks on TCP, no DC-09 framing) puts on a DC-09 port.
 */
export function isSiaBlockRun(bytes: Uint8Array): boolean {
  let at = 0;
  while (at < bytes.length) {
    const size = ((bytes[at] ?? 0) & HEADER_LENGTH_MASK) + BLOCK_OVERHEAD;
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

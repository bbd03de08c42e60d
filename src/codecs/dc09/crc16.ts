/**
 * CRC-16/ARC as used by SIA DC-07/DC-09: reflected polynomial 0xA001 (0x8005), init 0, no final xor.
 * The table is generated here rather than copied, because the DC-07 document's printed table has a typo (entry 101).
 */
const CRC16_ARC_TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    table[byte] = crc;
  }
  return table;
}

/** CRC of bytes[start, end); `initial` continues a CRC already computed over preceding bytes. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let crc = initial;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ CRC16_ARC_TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).toUpperCase().padStart(2, '0'));

/** Four uppercase hex digits, the DC-09 spelling of a CRC or length (0 … 0xFFFF). */
export function hex4(value: number): string {
  return HEX_PAIRS[(value >>> 8) & 0xff]! + HEX_PAIRS[value & 0xff]!;
}

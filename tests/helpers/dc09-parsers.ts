/**
 * Independent DC-09 receivers' parsers, ported check for check (not their code), to read what the gateway sends: its
 * answers to panels and the DC-09 output's frames. Each throws the error its original raises or returns.
 */
import { createDecipheriv } from 'node:crypto';
import { crcArc } from './panel.js';

/**
 * pysiaalarm 3.1.1, the receiver of Home Assistant's SIA integration: eavanvalkenburg/pysiaalarm
 * src/pysiaalarm/utils/regexes.py (as released in 3.1.1) and src/pysiaalarm/event.py. `from_line` takes the frame
 * without its LF and CR, MAIN_MATCHER must match, then the content matcher of the message type must match the
 * rest up to the end; a miss raises EventFormatError, which base_server.py answers with a NAK.
 * SIA-DCS reads extended data as one greedy `\[(.*)\]` (several fields); ADM-CID reads at most one field.
 */
const PYSIA_MAIN = /^(?<crc>[A-Fa-f0-9]{4})(?<length>[A-Fa-f0-9]{4})"(?<encrypted>[*])?(?<type>SIA-DCS|ADM-CID|NULL)"(?<sequence>[0-9]{4})(?<receiver>R[A-Fa-f0-9]{1,6})?(?<line>L[A-Fa-f0-9]{1,6})[#]?(?<account>[A-Fa-f0-9]{3,16})?[[](?<rest>.*)/s;
const PYSIA_SIA_CONTENT =
  /^[#]?(?<account>[A-Fa-f0-9]{3,16})?[|]?[N]?(?:ti)?(?:(?<=ti)(?<ti>\d{2}:\d{2}))?\/?(?:id)?(?:(?<=id)(?<id>\d*))?\/?(?:ri)?(?:(?<=ri)(?<ri>\d*))?\/?(?<code>[a-zA-Z]{2})?(?<message>.[^[\]]*)?[\]](?:\[(?:(?<=\[)(?<xdata>.*)(?=\]))\])?[_]?(?<timestamp>[0-9:,-]*)?$/s;
const PYSIA_ADM_CONTENT =
  /^[#]?(?<account>[A-F0-9]{3,16})?[|]?(?<qualifier>\d{1})(?<type>\d{3})\s(?<partition>\d{2})\s(?<ri>\d{3})[\]](?:\[(?:(?<=\[)(?<xdata>.[^[\]]*)(?=\]))\])?[_]?(?<timestamp>[0-9:,-]*)?$/s;

export function pysiaalarmReads(frame: Uint8Array): Record<string, string | undefined> {
  const line = Buffer.from(frame).toString('latin1').replace(/^\n/, '').replace(/\r$/, '');
  const main = PYSIA_MAIN.exec(line);
  if (main === null) throw new Error(`EventFormatError (main): ${line}`);
  // event.py valid_message: the CRC of incoming[8:], written as 4 upper-case hex digits.
  if (main.groups!['crc'] !== crcArc(line.slice(8)).toString(16).toUpperCase().padStart(4, '0')) throw new Error('CRC mismatch (valid_message false)');
  const content = (main.groups!['type'] === 'ADM-CID' ? PYSIA_ADM_CONTENT : PYSIA_SIA_CONTENT).exec(main.groups!['rest']!);
  if (content === null) throw new Error(`EventFormatError (content): ${main.groups!['rest']}`);
  return { ...main.groups, ...content.groups };
}

/**
 * fioletoven/dc09 common/src/dc09/parser.rs `parse_dc09`, which its receiver reads frames with and its dialler reads
 * answers with: LF, 4+4 hex, the length equal to the bytes between the header and the CR, the CRC over them, `#` and
 * an alphanumeric account required, `[data]`, any number of `[extended]`, then `_` and the timestamp up to the CR
 * (the rest is not checked). An encrypted frame (`"*…"`) is decrypted first (cryptography.rs `decrypt`); when that
 * gives nothing its payload is parsed undecrypted, and fails.
 */
export function fioletovenReads(frame: Uint8Array, key?: Uint8Array): { token: string; sequence: string; account: string; data: string; extended: string[]; timestamp: string | undefined } {
  const input = Buffer.from(frame).toString('latin1');
  const header = /^\n([0-9A-Fa-f]{4})([0-9A-Fa-f]{4})"([^"]*)"(\d{4})(?:R[0-9A-Fa-f]{1,6})?(?:L[0-9A-Fa-f]{1,6})?#([A-Za-z0-9]+)/.exec(input);
  if (header === null) throw new Error('ParseHeaderError');
  if (parseInt(header[2]!, 16) !== input.length - 10) throw new Error('InvalidLength');
  if (parseInt(header[1]!, 16) !== crcArc(input.slice(9, input.length - 1))) throw new Error('InvalidCrc');
  let rest = input.slice(header[0].length);
  if (header[3]!.startsWith('*')) {
    if (key === undefined) throw new Error('DecryptError');
    rest = fioletovenDecrypt(rest.slice(1, -1), key) ?? rest;
  }
  const payload = /^\[?([^\]]*)\]((?:\[[^\]]*\])*)(?:_([^\r]*))?/.exec(rest);
  if (payload === null) throw new Error('ParsePayloadError');
  const extended = [...payload[2]!.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!);
  return { token: header[3]!, sequence: header[4]!, account: header[5]!, data: payload[1]!, extended, timestamp: payload[3] };
}

/**
 * cryptography.rs `decrypt`: hex, AES-CBC with a zero IV of the key's length (so only AES-128 works), no padding
 * removed, and the plaintext must be UTF-8 (`core::str::from_utf8(..).ok()?`). Undefined where it gives None.
 */
function fioletovenDecrypt(hex: string, key: Uint8Array): string | undefined {
  const ciphertext = Buffer.from(hex, 'hex');
  if (key.length !== 16 || ciphertext.length * 2 !== hex.length || ciphertext.length % 16 !== 0) return undefined;
  const decipher = createDecipheriv('aes-128-cbc', key, Buffer.alloc(16)).setAutoPadding(false);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } catch {
    return undefined;
  }
}

/**
 * schmupu/ioBroker.sia src/lib/sia.ts `parseSIA` (its receiver), for a plain frame with a 4-hex-digit CRC: LF and CR
 * around it, the body decoded as UTF-8 (`Buffer.toString()`), its length in characters and the CRC of its UTF-8
 * re-encoding (`crc16(Buffer.from(str))`) equal to the header's, then `"id"seq R? L #acct[` and `data](\[ext\])?_ts`.
 * Any failure is answered with a NAK.
 */
export function ioBrokerSiaReads(frame: Uint8Array): { id: string; seq: string; lpref: string; act: string; dataMessage: string; dataExtended: string; ts: string } {
  const data = Buffer.from(frame);
  const last = data.length - 1;
  if (data[0] !== 0x0a || data[last] !== 0x0d) throw new Error('Receive message is corrupted.');
  if (data[5] !== 0x30 || data[9] !== 0x22) throw new Error('Message not in BIN or HEX format!');
  const str = data.subarray(9, last).toString();
  const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  if (hex4(str.length) !== data.subarray(5, 9).toString().toUpperCase()) throw new Error('Length of message is not correct!');
  if (hex4(crcArc(Buffer.from(str).toString('latin1'))) !== data.subarray(1, 5).toString().toUpperCase()) throw new Error('CRC of message is not correct!');
  const ids = /"(.+)"(\d{4})(R(.{0,6})){0,1}(L(.{0,6}))#([\w\d]+)\[(.+)/m.exec(str);
  if (ids === null) throw new Error('Message corupted');
  const msg = /(.+?)\](\[(.*?)\])?(_(.+)){0,1}/m.exec(ids[8]!);
  if (msg === null) throw new Error('Incorrect format of data message');
  return { id: ids[1]!, seq: ids[2]!, lpref: ids[6] ?? '', act: ids[7]!, dataMessage: msg[1]!, dataExtended: msg[3] ?? '', ts: msg[5] ?? '' };
}

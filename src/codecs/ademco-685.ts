import { QUALIFIER_OF_LETTER, checkContactIdFields } from './contact-id.js';
import type { ContactIdFields } from './contact-id.js';
import { fail, ok } from './result.js';
import type { DecodeResult } from './result.js';

/**
 * The Ademco 685 receiver's computer output for a Contact ID event, `RG AAAA 18 QXYZ GG FCCC` between LF and CR,
 * as the 685 and receivers in 685 mode write it (Honeywell MX8000 Installation and Operation Guide §8.5.4,
 * Figure 8-4): R the receiver and G its group, one digit each; the 4-digit account; Q `E` (new event, opening),
 * `R` (restore, closing) or, on the Silent Knight VisorAlarm's 685 output, `P` (previous event still present); F `C`
 * when CCC is a contact, `U` when it is a user. A receiver sends no check digit, and
 * has already written each DTMF "A" as 0.
 */
export interface Ademco685Message extends ContactIdFields {
  account: string;
  receiver: string;
  line: string;
}

const LINE_685 = /^(\d)(\d) ([0-9A-F]{4}) 18 ([A-Z])([0-9A-F]{3}) ([0-9A-F]{2}) ([CU])([0-9A-F]{3})$/;

/** Whether a line has the 685 layout's shape (`RG AAAA 18 …`, or its heartbeat), so it is read as one rather than as 16 digits. */
export function looksLikeAdemco685(line: string): boolean {
  return /^\d\d [0-9A-F]{4} 18 /.test(line) || ademco685Heartbeat(line) !== null;
}

/**
 * The link heartbeat of a receiver in 685 mode, `RG OKAY @` between LF and CR (Silent Knight VisorAlarm manual,
 * appendix IV: `[H]RLsOKAYs@s[T]`; the MX8000's OKAY record `00 OKAY @`): its receiver and group, else null.
 */
export function ademco685Heartbeat(line: string): { receiver: string; line: string } | null {
  const match = /^(\d)(\d) OKAY @\s*$/.exec(line);
  return match === null ? null : { receiver: match[1]!, line: match[2]! };
}

export function decodeAdemco685(line: string): DecodeResult<Ademco685Message> {
  const match = LINE_685.exec(line);
  if (match === null) return fail('CID_FORMAT_INVALID', 'an Ademco 685 Contact ID line is not "RG AAAA 18 QXYZ GG FCCC"', line);
  const [, receiver, group, account, letter, event, partition, , ccc] = match as unknown as string[];
  const qualifier = QUALIFIER_OF_LETTER[letter!];
  if (qualifier === undefined) {
    return fail('CID_QUALIFIER_INVALID', `Ademco 685 Contact ID event character "${letter}" is not E, R or P`, line);
  }
  const fields = checkContactIdFields({ qualifier, event: event!, group: partition!, ccc: ccc! }, line);
  if (!fields.ok) return fields;
  return ok({ ...fields.value, account: account!, receiver: receiver!, line: group! });
}

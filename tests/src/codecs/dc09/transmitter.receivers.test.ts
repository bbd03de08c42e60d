import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildPanelFrame, eventFrameContent, type Dc09EventFormat } from '../../../../src/codecs/dc09/transmitter.js';
import type { NormalizedEvent } from '../../../../src/model/event.js';
import { crcArc } from '../../../helpers/panel.js';
import { testEvent } from '../../../helpers/output-events.js';

/**
 * The DC-09 output's frames, read by independent receivers' own parsers (ported check for check, not their code).
 * A receiver that cannot parse a frame answers NAK (pysiaalarm) or nothing, so a forwarded duress never counts as
 * delivered: the output resends until its retries run out.
 */

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

function pysiaalarmReads(frame: Uint8Array): Record<string, string | undefined> {
  const line = Buffer.from(frame).toString('latin1').replace(/^\n/, '').replace(/\r$/, '');
  const main = PYSIA_MAIN.exec(line);
  if (main === null) throw new Error(`EventFormatError (main): ${line}`);
  // event.py valid_message: the CRC of incoming[8:], written as 4 upper-case hex digits.
  expect(main.groups!['crc']).toBe(crcArc(line.slice(8)).toString(16).toUpperCase().padStart(4, '0'));
  const content = (main.groups!['type'] === 'ADM-CID' ? PYSIA_ADM_CONTENT : PYSIA_SIA_CONTENT).exec(main.groups!['rest']!);
  if (content === null) throw new Error(`EventFormatError (content): ${main.groups!['rest']}`);
  return { ...main.groups, ...content.groups };
}

/**
 * fioletoven/dc09 common/src/dc09/parser.rs `parse_dc09` (its receiver): LF, 4+4 hex, the length equal to the bytes
 * between the header and the CR, the CRC over them, `#` + an alphanumeric account required, `[data]`, any number of
 * `[extended]`, then `_` and the timestamp up to the CR.
 */
function fioletovenReads(frame: Uint8Array): { account: string; data: string; extended: string[]; timestamp: string | undefined } {
  const input = Buffer.from(frame).toString('latin1');
  const header = /^\n([0-9A-Fa-f]{4})([0-9A-Fa-f]{4})"([^"]*)"(\d{4})(?:R[0-9A-Fa-f]{1,6})?(?:L[0-9A-Fa-f]{1,6})?#([A-Za-z0-9]+)/.exec(input);
  if (header === null) throw new Error('ParseHeaderError');
  if (parseInt(header[2]!, 16) !== input.length - 10) throw new Error('InvalidLength');
  if (parseInt(header[1]!, 16) !== crcArc(input.slice(9, input.length - 1))) throw new Error('InvalidCrc');
  const payload = /^\[?([^\]]*)\]((?:\[[^\]]*\])*)(?:_([^\r]*))?\r?$/.exec(input.slice(header[0].length));
  if (payload === null) throw new Error('ParsePayloadError');
  const extended = [...payload[2]!.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!);
  return { account: header[5]!, data: payload[1]!, extended, timestamp: payload[3] };
}

/** A duress with everything the output carries as extended data: the panel's time, the site, the zone's location, text. */
function richDuress(): NormalizedEvent {
  return testEvent({
    category: 'duress',
    protocol: 'sia-dcs',
    code: { scheme: 'sia', value: 'HA', description: 'Holdup' },
    user: { number: 5 },
    partition: { number: 1 },
    zone: { number: 3, location: 'Teller 3' } as NormalizedEvent['zone'],
    occurredAt: '2026-03-04T05:06:07.000Z',
    site: { id: 'branch-12', name: 'Branch 12' },
    text: 'Hold up',
    verified: false,
    unverifiedReason: 'unknown-account',
  });
}

function forwarded(event: NormalizedEvent, format: Dc09EventFormat): Uint8Array {
  const content = eventFrameContent(event, format, '9876')!;
  return buildPanelFrame({ content: content.content, extended: content.extended, seq: '0001', account: '9876', line: '0', now: Date.now(), random: randomBytes });
}

describe.each(['adm-cid', 'sia-dcs'] as const)('the DC-09 output in %s, read by independent receivers', (format) => {
  it('pysiaalarm 3.1.1 (Home Assistant) parses the forwarded duress, with its code and the unverified mark', () => {
    const read = pysiaalarmReads(forwarded(richDuress(), format));
    expect(read).toMatchObject({ account: '9876', line: 'L0', sequence: '0001' });
    if (format === 'adm-cid') expect(read).toMatchObject({ qualifier: '1', type: '121', partition: '01' });
    else expect(read).toMatchObject({ code: 'HA', ri: '1' });
    expect(read['xdata']).toBe(
      format === 'adm-cid'
        ? 'IUNVERIFIED unknown-account: occurred 05:06:07,03-04-2026: site Branch 12: location Teller 3: Hold up'
        : 'H05:06:07,03-04-2026][SBranch 12][LTeller 3][IUNVERIFIED unknown-account: Hold up',
    );
    expect(read['timestamp']).toMatch(/^\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
  });

  it('fioletoven/dc09 parses it, every extended field included', () => {
    const read = fioletovenReads(forwarded(richDuress(), format));
    expect(read.account).toBe('9876');
    expect(read.data).toMatch(format === 'adm-cid' ? /^#9876\|1121 01 /u : /^#9876\|N.*HA/u);
    expect(read.extended.join('][')).toContain('UNVERIFIED unknown-account');
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildPanelFrame, eventFrameContent, type Dc09EventFormat } from '../../../../src/codecs/dc09/transmitter.js';
import type { NormalizedEvent } from '../../../../src/model/event.js';
import { fioletovenReads, ioBrokerSiaReads, pysiaalarmReads } from '../../../helpers/dc09-parsers.js';
import { testEvent } from '../../../helpers/output-events.js';

/**
 * The DC-09 output's frames, read by independent receivers' own parsers (ported check for check, not their code).
 * A receiver that cannot parse a frame answers NAK (pysiaalarm) or nothing, so a forwarded duress never counts as
 * delivered: the output resends until its retries run out.
 */

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

function forwarded(event: NormalizedEvent, format: Dc09EventFormat, encryption: { key: Uint8Array; random: (n: number) => Uint8Array; padTo?: number } | null = null): Uint8Array {
  const content = eventFrameContent(event, format, '9876')!;
  const { key, random, padTo } = encryption ?? { random: randomBytes };
  return buildPanelFrame({ content: content.content, extended: content.extended, seq: '0001', account: '9876', line: '0', now: Date.now(), random, ...(key === undefined ? {} : { key }), ...(padTo === undefined ? {} : { padTo }) });
}

const KEY = Buffer.from('0123456789ABCDEF', 'latin1');
/** A random source whose bytes are all above 0x7F, as a share of any random source's are. */
const highBytes = (n: number): Uint8Array => Buffer.alloc(n, 0xc3);

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

  it('fioletoven/dc09 decrypts it (AES-128): the pad is text, as its UTF-8 plaintext check needs', () => {
    for (const random of [highBytes, ...Array.from({ length: 20 }, () => randomBytes)]) {
      const read = fioletovenReads(forwarded(richDuress(), format, { key: KEY, random }), KEY);
      expect(read.token).toBe(format === 'adm-cid' ? '*ADM-CID' : '*SIA-DCS');
      expect(read.data).toMatch(format === 'adm-cid' ? /\|#9876\|1121 01 /u : /\|#9876\|N.*HA/u);
      expect(read.timestamp).toMatch(/^\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
    }
  });

  it('fioletoven/dc09 decrypts it padded to 512 bytes (the output\'s `pad`): a longer pad still ends at the first "|"', () => {
    const frame = forwarded(richDuress(), format, { key: KEY, random: randomBytes, padTo: 512 });
    // LF, CRC and length, the clear header ("*SIA-DCS" is as long), then 512 bytes of ciphertext as hex, then CR.
    expect(frame.length).toBe(1 + 8 + '"*ADM-CID"0001L0#9876['.length + 1024 + 1);
    const read = fioletovenReads(frame, KEY);
    expect(read.data).toMatch(format === 'adm-cid' ? /\|#9876\|1121 01 /u : /\|#9876\|N.*HA/u);
    expect(read.timestamp).toMatch(/^\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
  });

  it('ioBroker.sia parses it when the site and the location have accented letters, read in ASCII', () => {
    const event = { ...richDuress(), site: { id: 'zh', name: 'Zürich Bahnhofstraße' }, zone: { number: 3, location: 'Tür 3' } as NormalizedEvent['zone'] };
    const read = ioBrokerSiaReads(forwarded(event, format));
    expect(read).toMatchObject({ act: '9876', lpref: '0', seq: '0001' });
    expect(read.dataMessage).toMatch(format === 'adm-cid' ? /^#9876\|1121 01 / : /^#9876\|N.*HA/);
    expect(read.dataExtended).toContain(format === 'adm-cid' ? 'site Zurich Bahnhofstra?e: location Tur 3' : '05:06:07,03-04-2026');
  });
});

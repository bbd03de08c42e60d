import { describe, expect, it } from 'vitest';
import { encodeSiaBlock } from '../../../src/codecs/sia-dc03-block.js';
import { createIdSource } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { RateLimitedLog } from '../../../src/observability/rate-limited-log.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { SiaBlockReceiver } from '../../../src/pipeline/sia-block-receiver.js';
import { silentLogger, systemClock, type Clock } from '../../../src/ports.js';
import { FakeClock } from '../../helpers/fake-clock.js';

function receiver(outbox: MemoryOutbox, clock: Clock = systemClock) {
  const counters = new Counters();
  return new SiaBlockReceiver({
    input: 'galaxy',
    strict: false,
    retransmitWindow: 30_000,
    clock,
    recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 }),
    builder: { ids: createIdSource(systemClock), sites: () => [] },
    counters,
    logger: silentLogger,
    warnings: new RateLimitedLog({ logger: silentLogger, clock: systemClock }),
  });
}

describe('SiaBlockReceiver', () => {
  it('rejects an event block it could not store, so the panel sends it again, and stores the copy', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const append = outbox.append.bind(outbox);
    outbox.append = () => Promise.reject(new Error('ENOSPC: no space left on device'));
    const galaxy = receiver(outbox);
    const session = galaxy.newSession();
    await galaxy.handleBlock(session, encodeSiaBlock('#', '123456', true));
    const holdUp = encodeSiaBlock('N', 'ti11:46/HA1011', true);
    const failed = await galaxy.handleBlock(session, holdUp);
    expect([...failed.reply]).toEqual([0x40, 0x39, 0x86]);
    outbox.append = append;
    const stored = await galaxy.handleBlock(session, holdUp);
    expect([...stored.reply]).toEqual([0x40, 0x38, 0x87]);
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([expect.objectContaining({ account: '123456', duress: true })]);
  });

  // https://www.thesecurityinstaller.co.uk/community/topic/41253-galaxy-flex-sia-protocol/: a Flex20 whose receiver
  // "can't ACK the data so the next message isn't received" sends 'D#1000' and its parity (0x99, shown as U+FFFD).
  it("acknowledges a Galaxy Flex20's account block as the panel needs, so it sends its next block", async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const outcome = await galaxy.handleBlock(galaxy.newSession(), Buffer.from('D#1000\x99', 'latin1'));
    expect([...outcome.reply]).toEqual([0x40, 0x38, 0x87]);
    expect(outcome.events).toEqual([]);
  });

  it('reads a duress code in an event block its codec cannot parse as that code', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const outcome = await galaxy.handleBlock(galaxy.newSession(), encodeSiaBlock('N', 'ti99:99:99:99/HA1011', true));
    expect(outcome.events).toEqual([expect.objectContaining({ duress: true, code: expect.objectContaining({ value: 'HA' }), quirks: expect.arrayContaining([expect.stringMatching(/^duress-suspected/)]) })]);
  });

  // protocols.md §2.1: function code `O` is an old event (already reported, perhaps to another receiver); the serial
  // input reads it as an event with qualifier status. Acknowledged unread, a hold-up in it was lost.
  it('stores the events of an old-event block before its acknowledge, a hold-up labelled, qualifier status', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const session = galaxy.newSession();
    await galaxy.handleBlock(session, encodeSiaBlock('#', '123456', true));
    const outcome = await galaxy.handleBlock(session, encodeSiaBlock('O', 'ti11:46/HA1011', true));
    expect([...outcome.reply]).toEqual([0x40, 0x38, 0x87]);
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([
      expect.objectContaining({ account: '123456', duress: true, qualifier: 'status', code: expect.objectContaining({ value: 'HA' }) }),
    ]);
  });
});

/**
 * A panel that missed the acknowledge of an event block sends the block again: on the same connection once its wait
 * runs out, or on a new one from the same address after the connection broke. Such a copy is acknowledged and stored
 * once; an identical event the panel sends after it took the acknowledge is a new event.
 */
// protocols.md §2.1 (openGalaxy `enum FunctionCode`): `L` is a listen-in block; a centre opens a listen-in right after
// a silent hold-up, so the block tells of the duress too. It was acknowledged with no event.
describe('SiaBlockReceiver: listen-in blocks', () => {
  it('stores a listen-in after the hold-up it follows, covert, before its acknowledge', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const session = galaxy.newSession();
    await galaxy.handleBlock(session, encodeSiaBlock('#', '123456', true));
    await galaxy.handleBlock(session, encodeSiaBlock('N', 'ti11:46/HA1011', true));
    const listenIn = await galaxy.handleBlock(session, encodeSiaBlock('L', '90', true));
    expect([...listenIn.reply]).toEqual([0x40, 0x38, 0x87]);
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([
      expect.objectContaining({ account: '123456', duress: true, code: expect.objectContaining({ value: 'HA' }) }),
      expect.objectContaining({ account: '123456', covert: true, code: expect.objectContaining({ value: 'LF' }), extended: expect.objectContaining({ listenIn: '90' }) }),
    ]);
  });

  // Sur-Gard MLR2-DG manual p.40: a listen-in block may carry its event (`Lri1BA01`), as the codec reads it.
  it('stores the event a listen-in block carries, a hold-up labelled', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const session = galaxy.newSession();
    await galaxy.handleBlock(session, encodeSiaBlock('#', '123456', true));
    await galaxy.handleBlock(session, encodeSiaBlock('L', 'ri1/HA01', true));
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([
      expect.objectContaining({ duress: true, code: expect.objectContaining({ value: 'HA' }), quirks: expect.arrayContaining(['listen-in-block']) }),
    ]);
  });
});

/** A block with a right length and parity but a function code DC-03 does not define (`Z`). */
function unknownFunctionBlock(data: string): Uint8Array {
  const block = encodeSiaBlock('N', data, true);
  block[1] = 'Z'.charCodeAt(0);
  block[block.length - 1]! ^= 'N'.charCodeAt(0) ^ 'Z'.charCodeAt(0);
  return block;
}

describe('SiaBlockReceiver: a block with an unknown function code', () => {
  it('is rejected as unsupported, a hold-up in its data stored labelled first, and its resend stored once', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const session = galaxy.newSession();
    await galaxy.handleBlock(session, encodeSiaBlock('#', '123456', true));
    const first = await galaxy.handleBlock(session, unknownFunctionBlock('ti11:46/HA1011'));
    await galaxy.handleBlock(session, unknownFunctionBlock('ti11:46/HA1011'));
    expect([...first.reply]).toEqual([0x40, 0x39, 0x86]);
    expect(first.error?.code).toBe('SIA03_FUNCTION_UNSUPPORTED');
    expect(outbox.pending('probe', 10).map((e) => e.event)).toEqual([
      expect.objectContaining({ account: '123456', duress: true, code: expect.objectContaining({ value: 'HA' }), text: 'Zti11:46/HA1011' }),
    ]);
  });

  it('is rejected with nothing stored when its data holds no duress code', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const galaxy = receiver(outbox);
    const outcome = await galaxy.handleBlock(galaxy.newSession(), unknownFunctionBlock('ti11:46/BA1011'));
    expect([...outcome.reply]).toEqual([0x40, 0x39, 0x86]);
    expect(outbox.pending('probe', 10)).toEqual([]);
  });
});

describe('SiaBlockReceiver: an event block sent again after a lost acknowledge', () => {
  const ACCOUNT = encodeSiaBlock('#', '0192', true);
  const HOLD_UP = encodeSiaBlock('N', 'ti11:46/HA1011', true);
  const END = encodeSiaBlock('0', '', true);

  function setUp() {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['probe']);
    const clock = new FakeClock();
    const galaxy = receiver(outbox, clock);
    const stored = () => outbox.pending('probe', 10).map((e) => e.event);
    /** One connection's blocks in turn, each answered with an acknowledge. */
    const session = (peer: string) => {
      const state = galaxy.newSession(peer);
      return async (...blocks: Uint8Array[]) => {
        for (const block of blocks) expect([...(await galaxy.handleBlock(state, block, peer)).reply]).toEqual([0x40, 0x38, 0x87]);
      };
    };
    return { clock, stored, session };
  }

  it('stores once a copy sent on a new connection from the same address after the first broke before its acknowledge', async () => {
    const { clock, stored, session } = setUp();
    await session('192.0.2.10:40001')(ACCOUNT, HOLD_UP);
    clock.advance(5_000);
    await session('192.0.2.10:40002')(ACCOUNT, HOLD_UP, END);
    expect(stored()).toEqual([expect.objectContaining({ account: '0192', duress: true })]);
  });

  it('stores once a copy sent again on the same connection', async () => {
    const { clock, stored, session } = setUp();
    const fx020 = session('192.0.2.10:40001');
    await fx020(ACCOUNT, HOLD_UP);
    clock.advance(3_000);
    await fx020(HOLD_UP, END);
    expect(stored()).toHaveLength(1);
  });

  it('stores both of two identical presses minutes apart, though the first connection broke after its acknowledge', async () => {
    const { clock, stored, session } = setUp();
    await session('192.0.2.10:40001')(ACCOUNT, HOLD_UP);
    clock.advance(3 * 60_000);
    await session('192.0.2.10:40002')(ACCOUNT, HOLD_UP, END);
    expect(stored()).toHaveLength(2);
  });

  it('stores both when the panel showed it took the first acknowledge (it went on with the session)', async () => {
    const { clock, stored, session } = setUp();
    await session('192.0.2.10:40001')(ACCOUNT, HOLD_UP, END);
    clock.advance(2_000);
    await session('192.0.2.10:40002')(ACCOUNT, HOLD_UP, END);
    const fx020 = session('192.0.2.10:40003');
    await fx020(ACCOUNT, HOLD_UP, encodeSiaBlock('A', '+HOLD UP        Kitchen', true), HOLD_UP, END);
    expect(stored()).toHaveLength(4);
  });

  it('stores both when the copy comes from another address or account', async () => {
    const { stored, session } = setUp();
    await session('192.0.2.10:40001')(ACCOUNT, HOLD_UP);
    await session('192.0.2.11:40001')(ACCOUNT, HOLD_UP);
    await session('192.0.2.10:40002')(encodeSiaBlock('#', '0193', true), HOLD_UP);
    expect(stored()).toHaveLength(3);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { type SerialInput } from '../../../adapters/inputs/serial.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { RecordingOutput } from '../../helpers/recording-output.js';
import { serialInputFromConfig } from '../../helpers/serial-receiver.js';
import { MockBinding, mockSerialPort } from '../../helpers/mock-serial-port.js';

const PATH = '/dev/ttyUSB-listen-in';
const DC4 = '\u0014';
const ACK = 0x06;

/**
 * The MLR2-E's two-way audio message (installation manual p.14, Option [4D] programmed "50", the manual's "P"):
 * "0000 P 01" (internal signals account 0000, the character, line card 01) in the protocol 1 layout
 * `1RRLssssAAAAAAsXGYYY` (SGAUTO p.15), receiver 01, line 1.
 */
const LISTEN_IN_PACKET = `1011      0000 P  01${DC4}`;
/** An everyday burglary before it, which every output receives: SGAUTO p.15, event letter 3, area 1, zone 3. */
const BURGLARY_PACKET = `1011      1234 31003${DC4}`;

const running: Array<{ input: SerialInput; dispatcher: Dispatcher }> = [];
afterEach(async () => {
  for (const { input, dispatcher } of running.splice(0)) {
    await input.stop();
    await dispatcher.stop();
  }
  MockBinding.reset();
});

/** A Sur-Gard serial input built from its configuration, as the gateway builds it; `extra` adds YAML keys. */
async function receiverWithOutputs(extra = '') {
  const config = `
inputs:
  - type: serial
    name: receiver
    path: ${PATH}
    dataBits: 7
    parity: even
    protocol: surgard
${extra}
outputs: []
`;
  const { binding, port } = mockSerialPort(PATH);
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['centre', 'keypad']);
  const centre = new RecordingOutput('centre', 'central');
  const keypad = new RecordingOutput('keypad', 'local');
  const dispatcher = new Dispatcher({ outbox, outputs: [centre, keypad], clock: systemClock, logger: silentLogger });
  dispatcher.start();
  const { input } = serialInputFromConfig(config, outbox, binding);
  running.push({ input, dispatcher });
  await input.start();
  const send = (packet: string) => port().emitData(Buffer.from(packet, 'latin1'));
  const answers = () => [...port().recording];
  return { send, answers, outbox, centre, keypad };
}

describe('SerialInput: a Sur-Gard two-way audio (listen-in) packet', () => {
  // security.md rule 3: a listen-in follows an alarm the centre verifies, often a silent hold-up; a keypad or the
  // owner's phone told of it learns that help was called.
  it('reaches the central output as a named listen-in and never the local one', async () => {
    const { send, answers, outbox, centre, keypad } = await receiverWithOutputs();
    send(BURGLARY_PACKET);
    await vi.waitFor(() => expect(answers()).toEqual([ACK]));
    send(LISTEN_IN_PACKET);
    await vi.waitFor(() => expect(answers()).toEqual([ACK, ACK]));
    await vi.waitFor(() => expect(centre.delivered).toHaveLength(2));
    await vi.waitFor(() => expect(outbox.backlog('keypad')).toBe(0));

    expect(centre.delivered[1]).toMatchObject({
      protocol: 'surgard',
      account: '0000',
      receiver: '01',
      line: '1',
      code: { scheme: 'sia', value: 'LF', description: 'Listen-in Begin' },
      category: 'status',
      covert: true,
      duress: false,
    });
    expect(keypad.delivered.map((event) => event.code?.value)).toEqual(['BA']);
  });

  it('follows the character programmed in the receiver\'s Option [4D] (listenInCharacter)', async () => {
    const { send, answers, centre, keypad, outbox } = await receiverWithOutputs('    listenInCharacter: "L"');
    send(BURGLARY_PACKET);
    await vi.waitFor(() => expect(answers()).toEqual([ACK]));
    send(`1011      0000 L  01${DC4}`);
    await vi.waitFor(() => expect(answers()).toEqual([ACK, ACK]));
    await vi.waitFor(() => expect(centre.delivered).toHaveLength(2));
    await vi.waitFor(() => expect(outbox.backlog('keypad')).toBe(0));

    expect(centre.delivered[1]).toMatchObject({ account: '0000', code: { scheme: 'sia', value: 'LF' }, covert: true });
    expect(keypad.delivered.map((event) => event.code?.value)).toEqual(['BA']);
  });
});

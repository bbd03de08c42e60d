import { SerialPortMock } from 'serialport';
import type { SerialBinding } from '../../adapters/inputs/serial.js';

/** MockBinding of @serialport/binding-mock, reached through serialport's re-export (its ESM entry ships no types). */
export const MockBinding = SerialPortMock.binding;
export type MockPort = Awaited<ReturnType<typeof MockBinding.open>>;

export interface MockSerialPort {
  /** What a SerialInput opens its port through. */
  binding: SerialBinding;
  /** The port as the input opened it (emitData: what the receiver sends; recording: what the input wrote). */
  port(): MockPort;
}

/** The only mock port (any earlier one is removed), at `path`, recording what is written to it. */
export function mockSerialPort(path: string): MockSerialPort {
  MockBinding.reset();
  MockBinding.createPort(path, { record: true });
  let opened: MockPort | undefined;
  return {
    binding: { list: () => MockBinding.list(), open: async (options) => (opened = await MockBinding.open(options)) },
    port: () => {
      if (opened === undefined) throw new Error(`the mock serial port ${path} has not been opened`);
      return opened;
    },
  };
}

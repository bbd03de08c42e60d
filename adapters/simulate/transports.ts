import { errorText } from '../../src/errors.js';
import { SURGARD_ACK, SURGARD_NAK } from '../../src/codecs/surgard.js';
import { AnswerQueue, openDc09Link, type Link, type LinkTarget } from '../outputs/dc09-link.js';
import { SimulateError } from './options.js';

/**
 * The links the simulator sends on: a DC-09 connection (TCP or UDP) towards a receiver, or the serial port a
 * Sur-Gard receiver writes its automation packets to. Each hands back the answers as they arrive.
 */

export async function openNetworkLink(target: LinkTarget): Promise<Link> {
  try {
    return await openDc09Link(target);
  } catch (error) {
    throw new SimulateError(`cannot reach ${target.transport}://${target.host}:${target.port}: ${errorText(error)}`);
  }
}

/** Bytes other than ACK/NAK are reported too: each run of them is an answer of its own. */
export async function openSerialLink(path: string, baudRate: number): Promise<Link> {
  const answers = new AnswerQueue();
  // Loaded here: the native binding costs every other CLI verb startup time.
  const [{ SerialPortStream }, { autoDetect }] = await Promise.all([import('@serialport/stream'), import('@serialport/bindings-cpp')]);
  const port = new SerialPortStream({ binding: autoDetect(), path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(new SimulateError(`cannot open ${path}: ${error.message}`)) : resolve())));
  port.on('data', (chunk: Buffer) => {
    let other: number[] = [];
    for (const byte of chunk) {
      if (byte === SURGARD_ACK || byte === SURGARD_NAK) {
        if (other.length > 0) answers.push(Uint8Array.from(other));
        other = [];
        answers.push(Uint8Array.of(byte));
      } else other.push(byte);
    }
    if (other.length > 0) answers.push(Uint8Array.from(other));
  });
  return {
    answers,
    send: (bytes) => new Promise((resolve, reject) => port.write(Buffer.from(bytes), (error) => (error ? reject(error) : port.drain(() => resolve())))),
    close: () => new Promise((resolve) => port.close(() => resolve())),
  };
}

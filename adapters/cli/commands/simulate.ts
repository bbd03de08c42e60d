import { Command, InvalidArgumentError, Option } from 'commander';
import { isGatewayError } from '../../../src/errors.js';
import type { SimulateOptions } from '../../simulate/options.js';
import { MAX_ADDRESS } from '../../../src/simulate/events.js';

/** Exit status when the simulator could not run at all (bad options, unreachable target); 1 means a frame got no ACK. */
export const EXIT_SIMULATE_FAILED = 2;

function integer(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(`expected a whole number ${min}-${max}`);
    return value;
  };
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a number above 0');
  return value;
}

/**
 * `panelbridge simulate`: a DC-09 panel (or a Sur-Gard receiver on a serial port) that prints every answer, or with
 * `--receive` a DC-09 receiver that prints every frame.
 */
export function simulateCommand(): Command {
  const command = new Command('simulate')
    .description(
      'act as a DC-09 panel (or, with --serial, a Sur-Gard receiver): send events and print each answer; ' +
        'exit 0 when every frame was ACKed, 1 when one was not, 2 when it could not run',
    )
    .option('--to <url>', 'gateway address: tcp://HOST:PORT or udp://HOST:PORT')
    .option('--account <account>', 'panel account (3-16 hex digits; Sur-Gard: 4 or 10 digits)')
    .option('--key <key>', 'AES key: frames are sent encrypted and the *ACK decrypted with it (prefer --key-file)')
    .option('--key-file <file>', 'read the AES key from this file')
    .option('--key-env <variable>', 'read the AES key from this environment variable')
    .addOption(new Option('--key-encoding <encoding>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--event <event>', 'duress | holdup | panic | burglary | test | null | raw:"<data block>"')
    .option('--zone <n>', 'zone number (holdup, panic, burglary, test; default 1)', integer(0, MAX_ADDRESS))
    .option('--user <n>', 'user number (duress; default 1)', integer(0, MAX_ADDRESS))
    .addOption(new Option('--format <format>', 'DC-09 content: Contact ID or SIA DC-03').choices(['adm-cid', 'sia']).default('adm-cid'))
    .option('--receiver <number>', 'receiver number (DC-09 R field, hex; Sur-Gard RR, default 01)')
    .option('--line <number>', 'line number (DC-09 L field, default 0; Sur-Gard LLL, default 001)')
    .option('--count <n>', 'frames to send in all', integer(1, 10_000_000), 1)
    .option('--rate <r>', 'frames per second across all connections (default: as fast as answers come)', positiveNumber)
    .option('--connections <c>', 'parallel TCP connections or UDP sockets, each waiting for its answer', integer(1, 10_000), 1)
    .option('--timeout <ms>', 'how long to wait for each answer', integer(1, 600_000), 5_000)
    .option('--json', 'print JSON lines instead of text')
    .option('--quiet', 'print only frames that were not ACKed, and the summary')
    .option('--scenario <file>', "play a site's devices from a YAML scenario file (see config/scenario.example.yaml)")
    .option('--serial <path>', 'serial port to play a Sur-Gard receiver on (with --protocol surgard)')
    .addOption(new Option('--protocol <protocol>', 'serial protocol').choices(['surgard']))
    .option('--baud-rate <n>', 'serial speed', integer(50, 4_000_000), 19_200)
    .option('--receive', 'act as a DC-09 receiver instead: answer like the gateway and print every frame that arrives (until Ctrl-C)')
    .option('--listen <[host:]port>', 'where --receive listens (TCP and UDP)', '127.0.0.1:9000');
  return command.action(async (options: SimulateOptions) => {
    // Imported when the simulator runs, not with every command's definition.
    const [{ simulate }, { printer }, { SimulateError }] = await Promise.all([
      import('../../simulate/simulate.js'),
      import('../../simulate/printing.js'),
      import('../../simulate/options.js'),
    ]);
    try {
      process.exitCode = await simulate(options, printer(options));
    } catch (error) {
      if (!(error instanceof SimulateError) && !isGatewayError(error)) throw error;
      command.error(`error: ${error.message}`, { exitCode: EXIT_SIMULATE_FAILED, code: 'panelbridge.simulate' });
    }
  });
}

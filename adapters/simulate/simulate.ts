import { errorText } from '../../src/errors.js';
import { simAddress } from '../../src/simulate/events.js';
import { checkedAccount, parseListen, requiredEvent, resolveKey, SimulateError, type SimulateOptions } from './options.js';
import { dc09Players, runPlayers, surgardPlayer } from './panel.js';
import type { Printer } from './printing.js';
import { playScenario } from './scenario.js';

/**
 * What `panelbridge simulate` does, resolving with its exit status: play one event (or `--count` of them under load),
 * play a scenario file, or with `--receive` act as a DC-09 receiver.
 */
export async function simulate(options: SimulateOptions, print: Printer): Promise<number> {
  if (options.receive === true) return receive(options, print);
  if (options.scenario !== undefined) return playScenario(options, print);
  const event = requiredEvent(options.event);
  const address = simAddress(options);
  const players = options.serial !== undefined ? [await surgardPlayer(options, event, address)] : await dc09Players(options, event, address);
  const loadMode = options.count > 1 || options.connections > 1 || options.rate !== undefined;
  const report = await runPlayers(players, options, print);
  if (loadMode) print.report(report);
  return report.answers.ack === report.sent ? 0 : 1;
}

/** `--receive`: a DC-09 receiver printing what arrives, until SIGINT/SIGTERM; exit 0. */
async function receive(options: SimulateOptions, print: Printer): Promise<number> {
  // Loaded only here: the receiver brings the gateway's pipeline, which the panel side never needs.
  const { startReceiver } = await import('./receiver.js');
  const key = resolveKey(options, options.keyEncoding, 'key');
  if (key !== undefined && options.account === undefined) throw new SimulateError('--receive with a key needs --account (the key belongs to it)');
  if (options.account !== undefined) checkedAccount(options.account);
  const address = parseListen(options.listen);
  let running;
  try {
    running = await startReceiver({
      ...address,
      ...(options.account === undefined ? {} : { account: { account: options.account, ...(key === undefined ? {} : { key }) } }),
      onListening: (address) => print.listening(address),
      onFrame: (record) => print.received(record),
    });
  } catch (error) {
    throw new SimulateError(`cannot listen on ${options.listen}: ${errorText(error)}`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}

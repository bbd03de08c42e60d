import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText } from '../../src/errors.js';
import { describeEvent, frameContent, simAddress } from '../../src/simulate/events.js';
import { SequenceCounter } from '../../src/simulate/frames.js';
import { emptyAnswerCounts, scenarioSummary } from '../../src/simulate/report.js';
import { parseScenario, type Scenario } from '../../src/simulate/scenario.js';
import { dc09IdFields, parseTarget, required, resolveKey, SimulateError, type SimulateOptions } from './options.js';
import { dc09Player, type Dc09Panel } from './panel.js';
import type { Printer } from './printing.js';
import { openNetworkLink } from './transports.js';

function readScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SimulateError(`cannot read ${file}: ${errorText(error)}`);
  }
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new SimulateError(`${file}: ${parsed.issues.join('; ')}`);
  return parsed.scenario;
}

/** `--scenario`: every device of a site in order, one connection per device, `delay` between events; a summary at the end. */
export async function playScenario(options: SimulateOptions, print: Printer): Promise<number> {
  const file = required(options.scenario, '--scenario');
  const scenario = readScenario(file);
  const to = options.to ?? scenario.to;
  if (to === undefined) throw new SimulateError('--to is required (or "to:" in the scenario)');
  const target = parseTarget(to);
  const answers = emptyAnswerCounts();
  let first = true;
  for (const [d, device] of scenario.devices.entries()) {
    const panel: Dc09Panel = {
      account: device.account,
      key: resolveKey(device, device.keyEncoding, `devices.${d}`),
      ...dc09IdFields(options),
      timeoutMs: scenario.timeout,
      sequence: new SequenceCounter(),
    };
    const link = await openNetworkLink(target);
    try {
      for (const entry of device.events) {
        if (!first) await sleep(scenario.delay);
        first = false;
        const address = simAddress(entry);
        const label = [scenario.site, entry.label].filter((part) => part !== undefined).join(': ');
        const record = await dc09Player(link, panel, {
          content: frameContent(entry.event, device.account, address, scenario.format),
          event: describeEvent(entry.event, address),
          ...(label === '' ? {} : { label }),
        }).play();
        answers[record.answer] += 1;
        print.frame(record);
      }
    } finally {
      await link.close();
    }
  }
  const summary = scenarioSummary(scenario.site ?? file, answers);
  print.summary(summary);
  return summary.answers.ack === summary.sent ? 0 : 1;
}

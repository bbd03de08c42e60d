import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeEvent, frameContent, type FrameContent, type SimAddress, type SimEvent } from '../../src/simulate/events.js';
import { buildPanelFrame, buildSurgardPacket, interpretAnswer, interpretSurgardAnswer, panelIds, SequenceCounter, type SentFrame } from '../../src/simulate/frames.js';
import { emptyAnswerCounts, frameRecord, loadReport, type FrameRecord, type LoadReport } from '../../src/simulate/report.js';
import { exchange, type Link } from '../outputs/dc09-link.js';
import { checkedAccount, dc09IdFields, formatOf, parseTarget, required, resolveKey, SimulateError, type SimulateOptions } from './options.js';
import { openNetworkLink, openSerialLink } from './transports.js';
import type { Printer } from './printing.js';

/** Plays one frame per call on its own link. */
export interface Player {
  play(): Promise<FrameRecord>;
  close(): Promise<void>;
}

/** The DC-09 panel a player speaks for. */
export interface Dc09Panel {
  account: string;
  key: Uint8Array | undefined;
  receiver: string | undefined;
  line: string | undefined;
  timeoutMs: number;
  sequence: SequenceCounter;
}

/** What one player sends every time: the frame content and how the output names it. */
export interface PlannedFrame {
  content: FrameContent;
  event: string;
  label?: string;
}

export function dc09Player(link: Link, panel: Dc09Panel, planned: PlannedFrame): Player {
  const { content: frameData, event, label } = planned;
  return {
    async play() {
      const seq = panel.sequence.next();
      const bytes = buildPanelFrame({
        content: frameData,
        seq,
        account: panel.account,
        key: panel.key,
        now: Date.now(),
        random: randomBytes,
        receiver: panel.receiver,
        line: panel.line,
      });
      const sent: SentFrame = { seq, encrypted: panel.key !== undefined, ...(panel.key === undefined ? {} : { key: panel.key }), echo: panelIds(panel) };
      const outcome = await exchange(link, bytes, panel.timeoutMs, (answer) => interpretAnswer(answer, sent));
      const token = `${sent.encrypted ? '*' : ''}${frameData.token}`;
      return frameRecord({ seq, token, account: panel.account, event, ...(label === undefined ? {} : { label }) }, outcome);
    },
    close: () => link.close(),
  };
}

/** One panel spread over `--connections` links, all sending the same event. */
export async function dc09Players(options: SimulateOptions, event: SimEvent, address: SimAddress): Promise<Player[]> {
  const target = parseTarget(required(options.to, '--to'));
  const account = checkedAccount(required(options.account, '--account'));
  const panel: Dc09Panel = {
    account,
    key: resolveKey(options, options.keyEncoding, 'key'),
    ...dc09IdFields(options),
    timeoutMs: options.timeout,
    // One panel spread over several connections: one sequence, so every frame in flight has its own number.
    sequence: new SequenceCounter(),
  };
  const planned = { content: frameContent(event, account, address, formatOf(options)), event: describeEvent(event, address) };
  const links = await Promise.all(Array.from({ length: options.connections }, () => openNetworkLink(target)));
  return links.map((link) => dc09Player(link, panel, planned));
}

/** A Sur-Gard receiver on a serial port, sending the event as an automation packet. */
export async function surgardPlayer(options: SimulateOptions, event: SimEvent, address: SimAddress): Promise<Player> {
  if (options.protocol !== 'surgard') throw new SimulateError('--serial needs --protocol surgard');
  if (options.connections !== 1) throw new SimulateError('--connections applies to DC-09 only: a serial port is one line');
  const account = event.kind === 'named' && event.name !== 'null' ? required(options.account, '--account') : (options.account ?? '');
  const packet = buildSurgardPacket({ event, account, address, receiver: options.receiver ?? '01', line: options.line ?? '001' });
  const link = await openSerialLink(required(options.serial, '--serial'), options.baudRate);
  const description = describeEvent(event, address);
  return {
    async play() {
      const outcome = await exchange(link, Buffer.from(packet, 'latin1'), options.timeout, interpretSurgardAnswer);
      return frameRecord({ token: 'surgard', account, event: description }, outcome);
    },
    close: () => link.close(),
  };
}

/** Shares `count` frames between the players, paced to `rate` frames per second when given. */
export async function runPlayers(players: Player[], options: Pick<SimulateOptions, 'count' | 'rate'>, print: Printer): Promise<LoadReport> {
  const answers = emptyAnswerCounts();
  const latencies: number[] = [];
  const started = performance.now();
  let next = 0;
  try {
    await Promise.all(
      players.map(async (player) => {
        for (let index = next++; index < options.count; index = next++) {
          if (options.rate !== undefined) {
            const wait = started + (index * 1000) / options.rate - performance.now();
            if (wait > 0) await sleep(wait);
          }
          const record = await player.play();
          answers[record.answer] += 1;
          if (record.latencyMs !== null) latencies.push(record.latencyMs);
          print.frame(record);
        }
      }),
    );
  } finally {
    await Promise.all(players.map((p) => p.close()));
  }
  return loadReport({ answers, latenciesMs: latencies, connections: players.length, elapsedMs: performance.now() - started });
}

import type { AnswerKind, PanelAnswer } from './frames.js';

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles (the smallest sample with at least p % of the samples at or below it), in ms. */
export function latencySummary(samplesMs: readonly number[]): LatencySummary | null {
  if (samplesMs.length === 0) return null;
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: rank(50), p90: rank(90), p99: rank(99), max: sorted[sorted.length - 1]! };
}

export type AnswerCounts = Record<Exclude<AnswerKind, 'stale'>, number>;

export function emptyAnswerCounts(): AnswerCounts {
  return { ack: 0, nak: 0, duh: 0, rsp: 0, invalid: 0, none: 0 };
}

/** Every frame sent gets exactly one answer kind, `none` included. */
function sentCount(answers: AnswerCounts): number {
  return Object.values(answers).reduce((a, b) => a + b, 0);
}

export interface LoadReport {
  sent: number;
  answers: AnswerCounts;
  connections: number;
  elapsedMs: number;
  /** Answered frames per second over the whole run. */
  throughputPerSec: number;
  /** Send-to-answer time of the frames that got an answer. */
  latencyMs: LatencySummary | null;
}

export function loadReport(input: {
  answers: AnswerCounts;
  latenciesMs: readonly number[];
  connections: number;
  elapsedMs: number;
}): LoadReport {
  const sent = sentCount(input.answers);
  const answered = sent - input.answers.none;
  return {
    sent,
    answers: { ...input.answers },
    connections: input.connections,
    elapsedMs: roundMs(input.elapsedMs),
    throughputPerSec: input.elapsedMs > 0 ? roundMs((answered * 1000) / input.elapsedMs) : 0,
    latencyMs: mapLatency(latencySummary(input.latenciesMs)),
  };
}

/** Milliseconds to two decimals, as printed. */
export function roundMs(value: number): number {
  return Math.round(value * 100) / 100;
}

function mapLatency(summary: LatencySummary | null): LatencySummary | null {
  return summary === null ? null : { p50: roundMs(summary.p50), p90: roundMs(summary.p90), p99: roundMs(summary.p99), max: roundMs(summary.max) };
}

/** The short table `simulate` prints under load without --json. */
export function formatLoadReport(report: LoadReport): string {
  const a = report.answers;
  const latency = report.latencyMs;
  return [
    `frames      ${report.sent} sent: ${a.ack} ACK, ${a.nak} NAK, ${a.duh} DUH, ${a.rsp} RSP, ${a.invalid} invalid, ${a.none} no answer`,
    `throughput  ${report.throughputPerSec} frames/s over ${report.connections} connection(s) in ${(report.elapsedMs / 1000).toFixed(2)} s`,
    latency === null
      ? 'latency ms  (no answers)'
      : `latency ms  p50 ${latency.p50}  p90 ${latency.p90}  p99 ${latency.p99}  max ${latency.max}`,
  ].join('\n');
}

/** One sent frame and what came back: printed as one line (text or JSON). Never holds a key. */
export interface FrameRecord {
  /** DC-09 sequence number; absent for Sur-Gard packets. */
  seq?: string;
  /** `ADM-CID`, `*SIA-DCS`, `NULL`, `surgard`… */
  token: string;
  account: string;
  event: string;
  label?: string;
  answer: keyof AnswerCounts;
  /** Send-to-answer time; null when nothing came back. */
  latencyMs: number | null;
  /** Receiver time from a NAK or an encrypted ACK, ISO-8601. */
  receiverTime?: string;
  detail?: string;
}

const ANSWER_TEXT: Record<keyof AnswerCounts, string> = {
  ack: 'ACK',
  nak: 'NAK',
  duh: 'DUH',
  rsp: 'RSP',
  invalid: 'INVALID',
  none: 'no answer',
};

/** `0001 ADM-CID #1234 holdup zone 5 "Teller 3" -> ACK 3.2 ms (receiver time …)`. */
export function formatFrameRecord(record: FrameRecord): string {
  const head = [record.seq, record.token, record.account === '' ? undefined : `#${record.account}`, record.event, record.label === undefined ? undefined : JSON.stringify(record.label)]
    .filter((part) => part !== undefined)
    .join(' ');
  const latency = record.latencyMs === null ? '' : ` ${roundMs(record.latencyMs)} ms`;
  const notes = [record.receiverTime === undefined ? undefined : `receiver time ${record.receiverTime}`, record.detail].filter((n) => n !== undefined);
  return `${head} -> ${ANSWER_TEXT[record.answer]}${latency}${notes.length === 0 ? '' : ` (${notes.join('; ')})`}`;
}

/** The record of one frame: how the output names it (`head`) and what came back, a stale answer counted invalid. */
export function frameRecord(
  head: Pick<FrameRecord, 'token' | 'account' | 'event'> & Partial<FrameRecord>,
  outcome: { answer: PanelAnswer; latencyMs: number | null },
): FrameRecord {
  const { answer, latencyMs } = outcome;
  return {
    ...head,
    answer: answer.kind === 'stale' ? 'invalid' : answer.kind,
    latencyMs: latencyMs === null ? null : roundMs(latencyMs),
    ...(answer.receiverTime == null ? {} : { receiverTime: new Date(answer.receiverTime).toISOString() }),
    ...(answer.detail === undefined ? {} : { detail: answer.detail }),
  };
}

/** What a scenario run ends with: the site (or file) and how its events were answered. */
export interface ScenarioSummary {
  scenario: string;
  sent: number;
  answers: AnswerCounts;
}

export function scenarioSummary(scenario: string, answers: AnswerCounts): ScenarioSummary {
  return { scenario, sent: sentCount(answers), answers: { ...answers } };
}

/** `Branch 12: 4 event(s), 4 ACK, 0 not ACKed`. */
export function formatScenarioSummary(summary: ScenarioSummary): string {
  return `${summary.scenario}: ${summary.sent} event(s), ${summary.answers.ack} ACK, ${summary.sent - summary.answers.ack} not ACKed`;
}

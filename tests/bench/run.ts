/**
 * `npm run bench`: every bench module in turn, then one table of figures against the targets from the issues,
 * and a JSON summary line. Figures are reported, never asserted: a missed target is marked, the exit code stays 0.
 * MQTT_URL (e.g. mqtt://127.0.0.1:1883) points the delivery, receiver and footprint benches at a real broker.
 * The footprint bench holds 10,000 connections: one descriptor each here and in the gateway child. Node raises its
 * soft open-files limit to the hard one at start, so the hard limit is what counts (printed in the summary).
 * Module names as arguments (`npm run bench -- receiver`) run only those. The whole run, and `--profile` (alone
 * or with module names), also profiles the gateway under the ACK-throughput load and prints µs per ACKed frame
 * by stage, beside the breakdown recorded in docs/bench-profile-before.json (the ACK path before issue 21's work).
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { openFilesLimit } from './bench-gateway.js';
import type { BenchFigure } from './figures.js';
import { benchContactId } from './contact-id.bench.js';
import { benchDc09 } from './dc09.bench.js';
import { benchDelivery } from './delivery.bench.js';
import { benchFlood } from './flood.bench.js';
import { benchFootprint } from './footprint.bench.js';
import { benchIngest } from './ingest.bench.js';
import { benchOutbox } from './outbox.bench.js';
import { benchReceiver } from './receiver.bench.js';
import { benchSiaDc03 } from './sia-dc03.bench.js';
import { benchSqliteEngines } from './sqlite-engines.bench.js';
import { benchProfile, type ProfileRow } from './profile.bench.js';
import { benchReplay } from './replay.bench.js';

interface Target {
  /** Which figures the target applies to, by name. */
  figure: RegExp;
  atLeast?: number;
  atMost?: number;
  unit: string;
}

const TARGETS: readonly Target[] = [
  { figure: /^dc09 decode plain /, atLeast: 200_000, unit: 'frames/s' },
  { figure: /^dc09 decode AES-128 /, atLeast: 50_000, unit: 'frames/s' },
  { figure: /^receiver ACK throughput, 1000 connections/, atLeast: 20_000, unit: 'frames/s' },
  { figure: /^receiver ACK throughput as a share of the bare ACK server's, 1000 connections/, atLeast: 0.6, unit: 'x' },
  { figure: /^receiver ACK throughput, 200 connections/, atLeast: 45_000, unit: 'frames/s' },
  { figure: /^receiver ACK latency p99 @1000\/s/, atMost: 5, unit: 'ms' },
  { figure: /PUBACK latency p99/, atMost: 5, unit: 'ms' },
  { figure: /^delivery drain .*100000 events/, atLeast: 20_000, unit: 'events/s' },
  { figure: /^replay --dry-run --fast, 1000000-line capture, frames per second/, atLeast: 100_000, unit: 'frames/s' },
  { figure: /^gateway RSS idle/, atMost: 80, unit: 'MB' },
  { figure: /^gateway RSS with 10000 connections/, atMost: 150, unit: 'MB' },
  { figure: /^gateway start → "gateway ready"/, atMost: 1_000, unit: 'ms' },
  { figure: /^flood: gateway peak RSS/, atMost: 250, unit: 'MB' },
  { figure: /^flood: heartbeat answer latency .*, max/, atMost: 1_000, unit: 'ms' },
  { figure: /^flood: heartbeats without an answer/, atMost: 0, unit: 'heartbeats' },
];

const mqttUrl = process.env.MQTT_URL === '' ? undefined : process.env.MQTT_URL;

const MODULES: ReadonlyArray<{ name: string; run: () => Promise<BenchFigure[]> }> = [
  { name: 'dc09', run: () => benchDc09() },
  { name: 'contact-id', run: () => benchContactId() },
  { name: 'sia-dc03', run: () => benchSiaDc03() },
  { name: 'outbox', run: () => benchOutbox() },
  { name: 'sqlite-engines', run: () => benchSqliteEngines() },
  { name: 'delivery', run: () => benchDelivery(mqttUrl) },
  { name: 'ingest', run: () => benchIngest(mqttUrl) },
  { name: 'receiver', run: () => benchReceiver(mqttUrl) },
  { name: 'footprint', run: () => benchFootprint(mqttUrl) },
  { name: 'flood', run: () => benchFlood(mqttUrl) },
  { name: 'replay', run: () => benchReplay() },
];

interface Row extends BenchFigure {
  target: string;
  /** Measured value over the target's bound (a ceiling of 0 has none). */
  ratio: number | null;
  ok: boolean | null;
}

function judge(figure: BenchFigure): Row {
  const target = TARGETS.find((t) => t.figure.test(figure.name));
  if (target === undefined) return { ...figure, target: '', ratio: null, ok: null };
  const bound = target.atLeast ?? target.atMost ?? Number.NaN;
  const ok =
    figure.unit === target.unit &&
    (target.atLeast === undefined || figure.value >= target.atLeast) &&
    (target.atMost === undefined || figure.value <= target.atMost);
  const text = `${target.atLeast === undefined ? '≤' : '≥'} ${formatValue(bound)} ${target.unit}`;
  return { ...figure, target: text, ratio: bound === 0 ? null : figure.value / bound, ok };
}

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

function printTable(rows: readonly Row[]): void {
  const cells = rows.map((r) => [r.name, formatValue(r.value), r.unit, r.target, r.ratio === null ? '' : `${r.ratio.toFixed(2)}×`, r.ok === null ? '' : r.ok ? 'yes' : 'MISSED']);
  const header = ['name', 'value', 'unit', 'target', 'of target', 'ok?'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string =>
    c.map((text, i) => (i === 1 || i === 4 ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const c of cells) console.log(line(c));
}

const PROFILE_FLAG = '--profile';
const PROFILE_BASELINE = new URL('../../../docs/bench-profile-before.json', import.meta.url);

interface ProfileBaseline {
  /** What was measured, and when. */
  recorded: string;
  rows: ProfileRow[];
}

function readBaseline(): ProfileBaseline | undefined {
  if (!existsSync(PROFILE_BASELINE)) return undefined;
  return JSON.parse(readFileSync(PROFILE_BASELINE, 'utf8')) as ProfileBaseline;
}

/** µs per ACKed frame by thread and stage, beside the recorded baseline's figure for the same stage. */
function printBreakdown(rows: readonly ProfileRow[], baseline: ProfileBaseline | undefined): void {
  console.log(`\nwhere an ACKed frame's time goes (µs per frame, idle left out)${baseline === undefined ? '' : `; before: ${baseline.recorded}`}`);
  const before = (thread: string, stage: string): string => {
    const row = baseline?.rows.find((r) => r.thread === thread && r.stage === stage);
    return row === undefined ? '' : row.usPerFrame.toFixed(1);
  };
  const stages = [...rows.map((r) => [r.thread, r.stage] as const)];
  for (const row of baseline?.rows ?? []) if (!rows.some((r) => r.thread === row.thread && r.stage === row.stage)) stages.push([row.thread, row.stage]);
  const now = (thread: string, stage: string): string => rows.find((r) => r.thread === thread && r.stage === stage)?.usPerFrame.toFixed(1) ?? '';
  const cells = stages.map(([thread, stage]) => [thread, stage, now(thread, stage), before(thread, stage)]);
  for (const thread of ['main', 'socket worker'] as const) {
    const sum = (list: readonly ProfileRow[]): string => list.filter((r) => r.thread === thread).reduce((total, r) => total + r.usPerFrame, 0).toFixed(1);
    cells.push([thread, 'total', sum(rows), baseline === undefined ? '' : sum(baseline.rows)]);
  }
  const header = ['thread', 'stage', 'now', 'before'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string => c.map((text, i) => (i >= 2 ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  const context = {
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
    openFilesLimit: openFilesLimit('self'),
    mqttUrl: mqttUrl ?? null,
  };
  const args = process.argv.slice(2);
  // The whole run profiles too: its breakdown is one of the figures the issues ask for.
  const profile = args.includes(PROFILE_FLAG) || args.length === 0;
  const only = args.filter((arg) => arg !== PROFILE_FLAG);
  const unknown = only.filter((name) => !MODULES.some((m) => m.name === name));
  if (unknown.length > 0) throw new Error(`no bench module ${unknown.join(', ')}; modules: ${MODULES.map((m) => m.name).join(', ')}`);
  const selected = args.length === 0 ? MODULES : MODULES.filter((m) => only.includes(m.name));
  const rows: Row[] = [];
  const failures: Array<{ module: string; error: string }> = [];
  const started = performance.now();
  for (const module of selected) {
    const moduleStarted = performance.now();
    process.stderr.write(`bench ${module.name} …`);
    try {
      rows.push(...(await module.run()).map(judge));
      process.stderr.write(` ${((performance.now() - moduleStarted) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push({ module: module.name, error: message });
      process.stderr.write(` FAILED: ${message}\n`);
    }
  }
  let breakdown: ProfileRow[] | undefined;
  if (profile) {
    process.stderr.write('bench profile …');
    const result = await benchProfile(mqttUrl);
    rows.push(...result.figures.map(judge));
    breakdown = result.breakdown;
    process.stderr.write(` profiles in ${result.profileDir}\n`);
  }
  const targetsWithoutFigure = args.length > 0 ? [] : TARGETS.filter((t) => !rows.some((r) => t.figure.test(r.name))).map((t) => t.figure.source);

  console.log(`\npanelbridge bench: node ${context.node}, ${context.cpus}, load average ${context.loadAverageAtStart.join(' ')}`);
  console.log(`broker: ${mqttUrl ?? 'none (in-process aedes for delivery; gateway benches point at a closed port)'}\n`);
  printTable(rows);
  if (breakdown !== undefined) printBreakdown(breakdown, readBaseline());
  for (const failure of failures) console.log(`FAILED module ${failure.module}: ${failure.error}`);
  for (const source of targetsWithoutFigure) console.log(`no figure for target /${source}/`);
  const missed = rows.filter((r) => r.ok === false).length;
  console.log(`\n${rows.length} figures, ${missed} targets missed, ${failures.length} modules failed, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(
    JSON.stringify({
      summary: 'panelbridge-bench',
      context: { ...context, loadAverageAtEnd: os.loadavg().map((l) => Number(l.toFixed(2))) },
      figures: rows,
      ...(breakdown === undefined ? {} : { profile: breakdown }),
      failures,
      targetsWithoutFigure,
    }),
  );
}

await main();

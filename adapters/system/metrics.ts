import type { Metric, Registry } from 'prom-client';
import type { Counters, Labels } from '../../src/observability/counters.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import type { OutputDispatchStats } from '../../src/pipeline/dispatcher.js';
import type { Dc09Answer } from '../../src/pipeline/dc09-receiver.js';
import type { Clock } from '../../src/ports.js';
import { DURESS_CATEGORIES } from '../../src/model/event.js';

export const METRIC_PREFIX = 'panelbridge_';

export interface MetricsSources {
  counters: Counters;
  dispatcher: { stats(): Record<string, OutputDispatchStats> };
  outbox: Pick<Outbox, 'oldestPendingAt' | 'deadLetterCount' | 'storage' | 'wal'>;
  clock: Clock;
  /** Node's process metrics (CPU, memory, event-loop lag, GC); off in tests that compare output. */
  processMetrics?: boolean;
}

/** Seconds; DC-09 answers wait for the outbox fsync, so most land in the low milliseconds. */
const ANSWER_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const DELIVERY_RESULTS = {
  delivered: 'delivered',
  failed: 'failed',
  dead: 'dead',
  skippedCovert: 'skipped_covert',
  skippedOverflow: 'skipped_overflow',
} as const satisfies Record<keyof Pick<OutputDispatchStats, 'delivered' | 'failed' | 'dead' | 'skippedCovert' | 'skippedOverflow'>, string>;

/** Help text of the counters the gateway increments (`Counters.inc` call sites). */
const COUNTER_HELP: Readonly<Record<string, string>> = {
  frames_total: 'Frames decoded, by input, protocol and result',
  bus_listener_errors_total: 'Event bus listeners that threw (logged; the pipeline went on), by event and listener',
  frames_rejected_total: 'Frames refused, by input and error code',
  frames_discarded_total: 'Byte runs the framer discarded (noise, oversize, idle timeout) and frames an input had no room to queue, by input and reason',
  events_total: 'Events stored in the outbox, by category and input',
  events_duplicate_total: 'Retransmitted frames acknowledged again but stored once',
  heartbeats_total: 'Link tests (DC-09 NULL) acknowledged, by input',
  outbox_rejections_total: 'Frames refused because the outbox could not store them, by error code',
  connections_total: 'TCP connections accepted, by input',
  connections_dropped_total:
    'TCP connections refused or closed by the listener, by input and reason (max-connections, peer-limit, first-frame-timeout, idle-timeout; accept-failed: out of file descriptors; not-allowed: outside a SIA over IP input\'s allowFrom; access-xml also headers-too-large, request-malformed, request-timeout)',
  input_errors_total: 'Frames whose handling failed unexpectedly, by input',
  udp_answers_withheld_total: 'NAK or DUH answers not sent to a datagram because they were larger than it (its sender address may be forged), by input',
  duress_frames_over_queue_total: 'Duress and hold-up frames a serial input queued beyond its full frame queue, by input',
  capture_write_failures_total: 'Frames not written to the run --capture file (disk full, I/O error), by input; they were stored and answered',
  capture_discards_skipped_total: 'Discarded runs (noise, oversized or surplus datagrams) not written to the run --capture file past its per-sender and per-minute limits, by input',
  api_requests_refused_total: 'API requests refused, by error code (no token, role, origin, host, content type)',
  mqtt_acks_refused_total: 'Incident acknowledgements over MQTT refused, by output and error code (unknown incident, already acknowledged, not stored)',
  api_token_failures_total: 'Unknown tokens presented to the API (bearer and console sign-in), by peer (loopback: never locked out; network)',
  api_connections_dropped_total: 'API connections refused or closed by the listener, by reason (max-connections, peer-limit, accept-failed: out of file descriptors; headers-too-large, request-malformed, request-timeout: a request it could not read)',
  retired_output_events_total:
    'Events an output removed from the configuration had not delivered at start-up, by output and outcome (handed_over to the outputs added in its place, dead_letter)',
  assurance_records_evicted_total:
    'Records of accounts nobody configured that the assurance forgot at its bound, by kind (link: a supervised link learned from traffic; panel-test: the panel tests of an account on no site)',
  assurance_incidents_grouped_total:
    'Duress and hold-up events of accounts on no site that joined the one incident grouping them, past the bound on open incidents of such accounts',
  dc09_output_answers_distrusted_total:
    'Answers a DC-09 output refused (undecodable, wrong-key, plain-ack, encrypted-ack, ack-without-time, ack-before-frame, replayed, not-echoed, unexpected-token), and on a keyed link the unencrypted NAKs and DUHs it did not trust (plain-nak, plain-duh), by output, path and reason',
  unverified_frames_folded_total: 'Refused non-duress frames counted into the next stored event of their origin instead of stored, by input',
};

/**
 * The DC-09 answer-latency histogram, by answer. prom-client's Histogram hashes and validates the label set on
 * every observe, a measurable share of the frame path at thousands of frames a second; this one keeps plain
 * bucket counts per answer and hands prom-client's registry the same samples (`_bucket` with `le`, `_sum`,
 * `_count`) when scraped.
 */
interface HistogramSample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

class AnswerLatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly byAnswer = new Map<Dc09Answer, { buckets: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
  ) {}

  observe(answer: Dc09Answer, seconds: number): void {
    let series = this.byAnswer.get(answer);
    if (series === undefined) this.byAnswer.set(answer, (series = { buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 }));
    // A loop rather than findIndex: no closure per answer.
    const bounds = this.upperBounds;
    for (let bucket = 0; bucket < bounds.length; bucket++) {
      if (seconds <= bounds[bucket]!) {
        series.buckets[bucket]! += 1;
        break;
      }
    }
    series.sum += seconds;
    series.count += 1;
  }

  /** The registry's view: cumulative buckets, then +Inf, sum and count, per answer. */
  get(): { name: string; help: string; type: string; aggregator: string; values: HistogramSample[] } {
    const values = [...this.byAnswer].flatMap(([answer, series]): HistogramSample[] => {
      let cumulative = 0;
      return [
        ...this.upperBounds.map((le, i) => ({ labels: { le, answer }, value: (cumulative += series.buckets[i]!), metricName: `${this.name}_bucket` })),
        { labels: { le: '+Inf', answer }, value: series.count, metricName: `${this.name}_bucket` },
        { labels: { answer }, value: series.sum, metricName: `${this.name}_sum` },
        { labels: { answer }, value: series.count, metricName: `${this.name}_count` },
      ];
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.byAnswer.clear();
  }
}

/** The text exposition format 0.0.4, prom-client's `Registry.PROMETHEUS_CONTENT_TYPE`. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The Prometheus view of a running gateway, on its own registry. Every `Counters` name is mirrored by a
 * prom-client counter of the same name (prefixed), created on first use with that increment's label names;
 * its values, like the outbox and delivery figures, are read when scraped.
 *
 * prom-client and its registry are loaded at the first scrape, not at start: a gateway nobody scrapes does not
 * hold them (nor the event-loop-delay sampler and GC observer of the process metrics, which count from then on).
 */
export class GatewayMetrics {
  readonly contentType = CONTENT_TYPE;
  private registry: Promise<Registry> | undefined;
  private readonly answerLatency = new AnswerLatencyHistogram(
    `${METRIC_PREFIX}dc09_answer_latency_seconds`,
    'Time from a DC-09 frame arriving to its answer (ack, nak, duh, none) being decided, ACKs after the outbox stored the event',
    ANSWER_LATENCY_BUCKETS,
  );

  constructor(private readonly sources: MetricsSources) {}

  /** Wired to `Dc09ReceiverOptions.onAnswered`. */
  observeAnswer(answer: Dc09Answer, latencyMs: number): void {
    this.answerLatency.observe(answer, latencyMs / 1000);
  }

  /** The text exposition format (version 0.0.4). */
  async render(): Promise<string> {
    this.registry ??= this.createRegistry();
    return (await this.registry).metrics();
  }

  private async createRegistry(): Promise<Registry> {
    const { collectDefaultMetrics, Counter, Gauge, Registry } = await import('prom-client');
    const { counters, dispatcher, outbox, clock } = this.sources;
    const registry = new Registry();
    const registers = [registry];
    const mirrored = new Set<string>();
    /**
     * A prom-client counter that reads the `Counters` samples of `name` when scraped, so an increment on the frame
     * path costs nothing here. Label names are fixed by the first increment of `name`: a later increment's extra
     * labels are dropped and missing ones are empty, because a metrics listener must never throw inside the frame path.
     */
    const mirror = (name: string, labels: Labels): void => {
      if (mirrored.has(name)) return;
      const labelNames = Object.keys(labels).sort();
      mirrored.add(name);
      new Counter({
        name: METRIC_PREFIX + name,
        help: COUNTER_HELP[name] ?? name.replaceAll('_', ' '),
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const sample of counters.snapshot()) {
            if (sample.name !== name) continue;
            this.inc(Object.fromEntries(labelNames.map((label) => [label, sample.labels[label] ?? ''])), sample.value);
          }
        },
      });
    };
    // The snapshot lists names in first-increment order, with the labels of that first increment.
    for (const sample of counters.snapshot()) mirror(sample.name, sample.labels);
    counters.onIncrement((name, labels) => mirror(name, labels));

    // The registry only reads name, help, type and get() (and reset() on resetMetrics) from a metric.
    registry.registerMetric(this.answerLatency as unknown as Metric);
    new Gauge({
      name: `${METRIC_PREFIX}outbox_backlog`,
      help: 'Events stored but not yet delivered, per output',
      labelNames: ['output'],
      registers,
      collect() {
        this.reset();
        for (const [output, stats] of Object.entries(dispatcher.stats())) this.set({ output }, stats.backlog);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}outbox_oldest_pending_age_seconds`,
      help: 'Age of the oldest undelivered event per output (0 when none is waiting)',
      labelNames: ['output'],
      registers,
      collect() {
        this.reset();
        const now = clock.now();
        for (const output of Object.keys(dispatcher.stats())) {
          const oldest = outbox.oldestPendingAt(output);
          this.set({ output }, oldest === null ? 0 : Math.max(0, now - oldest) / 1000);
        }
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}outbox_entries`,
      help: 'Events kept in the outbox (undelivered, delivered within retention, dead letters)',
      registers,
      collect() {
        this.set(outbox.storage().entries);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}outbox_oldest_entry_age_seconds`,
      help: 'Age of the oldest event kept in the outbox (0 when it is empty); retention keeps it bounded',
      registers,
      collect() {
        const oldest = outbox.storage().oldestStoredAt;
        this.set(oldest === null ? 0 : Math.max(0, clock.now() - oldest) / 1000);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}outbox_wal_bytes`,
      help: "Size of the outbox's write-ahead log; growing past 2 checkpoints' worth, another process's read transaction holds it",
      registers,
      collect() {
        this.set(outbox.wal().bytes);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}dead_letters`,
      help: 'Events an output refused permanently, kept as dead letters',
      labelNames: ['output'],
      registers,
      collect() {
        this.reset();
        for (const output of Object.keys(dispatcher.stats())) this.set({ output }, outbox.deadLetterCount(output));
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}deliveries_total`,
      help: 'Delivery outcomes per output since start (failed counts every retryable attempt)',
      labelNames: ['output', 'result'],
      registers,
      collect() {
        this.reset();
        for (const [output, stats] of Object.entries(dispatcher.stats())) {
          for (const [field, result] of Object.entries(DELIVERY_RESULTS)) {
            this.inc({ output, result }, stats[field as keyof typeof DELIVERY_RESULTS]);
          }
        }
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}duress_events_total`,
      help: 'Duress and hold-up events stored since start (a person under threat)',
      labelNames: ['category'],
      registers,
      collect() {
        this.reset();
        for (const category of DURESS_CATEGORIES) this.inc({ category }, counters.get('events_total', { category }));
      },
    });
    if (this.sources.processMetrics !== false) collectDefaultMetrics({ register: registry });
    return registry;
  }
}

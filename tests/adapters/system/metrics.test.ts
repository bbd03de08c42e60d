import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../../adapters/system/metrics.js';
import { Counters } from '../../../src/observability/counters.js';
import type { OutputDispatchStats } from '../../../src/pipeline/dispatcher.js';

/** `name{labels} value` lines of the text format, keyed by everything before the value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    map.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return map;
}

function stats(partial: Partial<OutputDispatchStats>): OutputDispatchStats {
  return { delivered: 0, failed: 0, dead: 0, skippedCovert: 0, skippedOverflow: 0, inFlight: 0, waiting: 0, retrying: 0, backlog: 0, ...partial };
}

function fixture() {
  const counters = new Counters();
  let now = 1_000_000;
  const dispatcherStats: Record<string, OutputDispatchStats> = { broker: stats({}), hook: stats({}) };
  const oldest: Record<string, number | null> = { broker: null, hook: null };
  const dead: Record<string, number> = { broker: 0, hook: 0 };
  const storage: { entries: number; oldestStoredAt: number | null } = { entries: 0, oldestStoredAt: null };
  const metrics = new GatewayMetrics({
    counters,
    dispatcher: { stats: () => dispatcherStats },
    outbox: {
      oldestPendingAt: (output) => oldest[output] ?? null,
      deadLetterCount: (output) => dead[output ?? ''] ?? 0,
      storage: () => storage,
      wal: () => ({ bytes: 0, stuck: false }),
    },
    clock: { now: () => now },
    processMetrics: false,
  });
  const scrape = async () => samples(await metrics.render());
  return { counters, metrics, dispatcherStats, oldest, dead, storage, scrape, advance: (ms: number) => (now += ms) };
}

describe('GatewayMetrics', () => {
  it('mirrors every Counters increment with its labels, including increments made before it existed', async () => {
    const counters = new Counters();
    counters.inc('frames_total', { input: 'ip', protocol: 'ADM-CID', result: 'decoded' }, 2);
    const metrics = new GatewayMetrics({ counters, dispatcher: { stats: () => ({}) }, outbox: { oldestPendingAt: () => null, deadLetterCount: () => 0, storage: () => ({ entries: 0, oldestStoredAt: null }), wal: () => ({ bytes: 0, stuck: false }) }, clock: { now: () => 0 }, processMetrics: false });
    counters.inc('frames_total', { input: 'ip', protocol: 'ADM-CID', result: 'decoded' });
    counters.inc('frames_total', { input: 'ip', protocol: 'NULL', result: 'decoded' });
    counters.inc('frames_rejected_total', { input: 'ip', code: 'DC09_CRC_MISMATCH' });
    counters.inc('events_duplicate_total');
    const scraped = samples(await metrics.render());
    expect(scraped.get('panelbridge_frames_total{input="ip",protocol="ADM-CID",result="decoded"}')).toBe(3);
    expect(scraped.get('panelbridge_frames_total{input="ip",protocol="NULL",result="decoded"}')).toBe(1);
    expect(scraped.get('panelbridge_frames_rejected_total{code="DC09_CRC_MISMATCH",input="ip"}')).toBe(1);
    expect(scraped.get('panelbridge_events_duplicate_total')).toBe(1);
    expect(await metrics.render()).toContain('# HELP panelbridge_frames_rejected_total Frames refused, by input and error code');
  });

  it('mirrors a counter whose label sets were all incremented before it existed, and scrapes current totals', async () => {
    const counters = new Counters();
    counters.inc('events_total', { category: 'holdup', input: 'ip' });
    counters.inc('events_total', { category: 'burglary', input: 'ip' });
    const metrics = new GatewayMetrics({ counters, dispatcher: { stats: () => ({}) }, outbox: { oldestPendingAt: () => null, deadLetterCount: () => 0, storage: () => ({ entries: 0, oldestStoredAt: null }), wal: () => ({ bytes: 0, stuck: false }) }, clock: { now: () => 0 }, processMetrics: false });
    expect(samples(await metrics.render()).get('panelbridge_events_total{category="holdup",input="ip"}')).toBe(1);
    counters.inc('events_total', { input: 'ip', category: 'holdup' }, 4);
    const scraped = samples(await metrics.render());
    expect(scraped.get('panelbridge_events_total{category="holdup",input="ip"}')).toBe(5);
    expect(scraped.get('panelbridge_events_total{category="burglary",input="ip"}')).toBe(1);
  });

  it('keeps the first label names of a counter and never throws on a different set', async () => {
    const { counters, scrape } = fixture();
    counters.inc('connections_total', { input: 'ip' });
    expect(() => counters.inc('connections_total', { input: 'ip2', peer: '10.0.0.1' })).not.toThrow();
    expect(() => counters.inc('connections_total', {})).not.toThrow();
    const scraped = await scrape();
    expect(scraped.get('panelbridge_connections_total{input="ip2"}')).toBe(1);
    expect(scraped.get('panelbridge_connections_total{input=""}')).toBe(1);
  });

  it('reads backlog, oldest pending age, dead letters and deliveries per output at scrape time', async () => {
    const { dispatcherStats, oldest, dead, scrape, advance } = fixture();
    expect((await scrape()).get('panelbridge_outbox_backlog{output="broker"}')).toBe(0);
    dispatcherStats.broker = stats({ backlog: 7, delivered: 40, failed: 3, dead: 1, skippedCovert: 2 });
    oldest.broker = 1_000_000;
    dead.hook = 2;
    advance(4_500);
    const scraped = await scrape();
    expect(scraped.get('panelbridge_outbox_backlog{output="broker"}')).toBe(7);
    expect(scraped.get('panelbridge_outbox_oldest_pending_age_seconds{output="broker"}')).toBe(4.5);
    expect(scraped.get('panelbridge_outbox_oldest_pending_age_seconds{output="hook"}')).toBe(0);
    expect(scraped.get('panelbridge_dead_letters{output="hook"}')).toBe(2);
    expect(scraped.get('panelbridge_deliveries_total{output="broker",result="delivered"}')).toBe(40);
    expect(scraped.get('panelbridge_deliveries_total{output="broker",result="failed"}')).toBe(3);
    expect(scraped.get('panelbridge_deliveries_total{output="broker",result="dead"}')).toBe(1);
    expect(scraped.get('panelbridge_deliveries_total{output="broker",result="skipped_covert"}')).toBe(2);
    // A scrape reports the current figures, not a sum over scrapes.
    expect((await scrape()).get('panelbridge_deliveries_total{output="broker",result="delivered"}')).toBe(40);
  });

  it('reads the outbox size, the age of its oldest kept event and local-output overflow skips at scrape time', async () => {
    const { dispatcherStats, storage, scrape, advance } = fixture();
    expect((await scrape()).get('panelbridge_outbox_entries')).toBe(0);
    expect((await scrape()).get('panelbridge_outbox_oldest_entry_age_seconds')).toBe(0);
    storage.entries = 12_345;
    storage.oldestStoredAt = 1_000_000;
    dispatcherStats.hook = stats({ skippedOverflow: 9 });
    advance(86_400_000);
    const scraped = await scrape();
    expect(scraped.get('panelbridge_outbox_entries')).toBe(12_345);
    expect(scraped.get('panelbridge_outbox_oldest_entry_age_seconds')).toBe(86_400);
    expect(scraped.get('panelbridge_deliveries_total{output="hook",result="skipped_overflow"}')).toBe(9);
  });

  it('counts duress and hold-up events from events_total', async () => {
    const { counters, scrape } = fixture();
    counters.inc('events_total', { category: 'duress', input: 'ip' });
    counters.inc('events_total', { category: 'duress', input: 'serial' });
    counters.inc('events_total', { category: 'holdup', input: 'ip' });
    counters.inc('events_total', { category: 'burglary', input: 'ip' });
    const scraped = await scrape();
    expect(scraped.get('panelbridge_duress_events_total{category="duress"}')).toBe(2);
    expect(scraped.get('panelbridge_duress_events_total{category="holdup"}')).toBe(1);
  });

  it('puts DC-09 answer latencies in a histogram by answer, in seconds', async () => {
    const { metrics, scrape } = fixture();
    metrics.observeAnswer('ack', 3);
    metrics.observeAnswer('ack', 40);
    metrics.observeAnswer('nak', 1);
    metrics.observeAnswer('ack', 5_000);
    const scraped = await scrape();
    expect(await metrics.render()).toContain('# TYPE panelbridge_dc09_answer_latency_seconds histogram');
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_count{answer="ack"}')).toBe(3);
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_bucket{le="2.5",answer="ack"}')).toBe(2);
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_bucket{le="+Inf",answer="ack"}')).toBe(3);
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_sum{answer="ack"}')).toBeCloseTo(5.043);
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_bucket{le="0.005",answer="ack"}')).toBe(1);
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_bucket{le="0.05",answer="ack"}')).toBe(2);
    expect(scraped.get('panelbridge_dc09_answer_latency_seconds_count{answer="nak"}')).toBe(1);
  });

  it('uses its own registry in the Prometheus text format 0.0.4, process metrics included unless turned off', async () => {
    const { metrics } = fixture();
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const withProcess = new GatewayMetrics({ counters: new Counters(), dispatcher: { stats: () => ({}) }, outbox: { oldestPendingAt: () => null, deadLetterCount: () => 0, storage: () => ({ entries: 0, oldestStoredAt: null }), wal: () => ({ bytes: 0, stuck: false }) }, clock: { now: () => 0 } });
    expect(await withProcess.render()).toMatch(/^process_resident_memory_bytes /m);
    expect(await metrics.render()).not.toMatch(/^process_/m);
  });
});

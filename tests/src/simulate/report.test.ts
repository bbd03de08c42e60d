import { describe, expect, it } from 'vitest';
import { emptyAnswerCounts, formatScenarioSummary, frameRecord, latencySummary, scenarioSummary } from '../../../src/simulate/report.js';

describe('simulator building blocks', () => {
  it('computes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(latencySummary(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
    expect(latencySummary([7])).toEqual({ p50: 7, p90: 7, p99: 7, max: 7 });
    expect(latencySummary([])).toBeNull();
  });
});

describe('frame records', () => {
  const head = { seq: '0001', token: 'ADM-CID', account: '1234', event: 'holdup zone 5' };

  it('counts a stale answer as invalid and rounds the latency to two decimals', () => {
    expect(frameRecord(head, { answer: { kind: 'stale', detail: 'seq 0009' }, latencyMs: 3.14159 })).toEqual({
      ...head,
      answer: 'invalid',
      latencyMs: 3.14,
      detail: 'seq 0009',
    });
  });

  it('gives the receiver time as ISO-8601 and keeps no answer as null latency', () => {
    expect(frameRecord(head, { answer: { kind: 'nak', receiverTime: Date.UTC(2026, 0, 1, 12) }, latencyMs: 1 })).toMatchObject({
      answer: 'nak',
      receiverTime: '2026-01-01T12:00:00.000Z',
    });
    expect(frameRecord(head, { answer: { kind: 'none' }, latencyMs: null })).toEqual({ ...head, answer: 'none', latencyMs: null });
  });
});

describe('scenario summary', () => {
  it('counts every answer as sent and prints the ACKs against the rest', () => {
    const answers = { ...emptyAnswerCounts(), ack: 4, nak: 1, none: 1 };
    const summary = scenarioSummary('Branch 12', answers);
    expect(summary).toEqual({ scenario: 'Branch 12', sent: 6, answers });
    expect(formatScenarioSummary(summary)).toBe('Branch 12: 6 event(s), 4 ACK, 2 not ACKed');
  });
});

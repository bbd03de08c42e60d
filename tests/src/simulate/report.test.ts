import { describe, expect, it } from 'vitest';
import { latencySummary } from '../../../src/simulate/report.js';

describe('simulator building blocks', () => {
  it('computes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(latencySummary(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
    expect(latencySummary([7])).toEqual({ p50: 7, p90: 7, p99: 7, max: 7 });
    expect(latencySummary([])).toBeNull();
  });
});

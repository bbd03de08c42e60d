import { describe, expect, it } from 'vitest';
import { Counters, type Labels } from '../../../src/observability/counters.js';

describe('Counters', () => {
  it('counts one sample per name and label set, whatever order the labels are written in', () => {
    const counters = new Counters();
    counters.inc('frames_total', { input: 'ip', protocol: 'ADM-CID' });
    counters.inc('frames_total', { protocol: 'ADM-CID', input: 'ip' }, 2);
    counters.inc('frames_total', { input: 'ip', protocol: 'SIA-DCS' });
    expect(counters.snapshot()).toEqual([
      { name: 'frames_total', labels: { input: 'ip', protocol: 'ADM-CID' }, value: 3 },
      { name: 'frames_total', labels: { input: 'ip', protocol: 'SIA-DCS' }, value: 1 },
    ]);
  });

  it('keeps label sets apart even when names and values could run into each other', () => {
    const counters = new Counters();
    const lookalikes: Array<[string, Labels]> = [
      ['a', { b: 'c' }],
      ['a', { bc: '' }],
      ['ab', { c: '' }],
      ['a', { b: '1:c' }],
      ['a', { b: '1', c: '' }],
      ['a', {}],
    ];
    for (const [name, labels] of lookalikes) counters.inc(name, labels);
    expect(counters.snapshot().map((s) => s.value)).toEqual(lookalikes.map(() => 1));
  });

  it('keeps a label set apart from its prefixes and extensions, in any order and interleaving', () => {
    const counters = new Counters();
    counters.inc('x', { a: '1', b: '2' });
    counters.inc('x', { a: '1' });
    counters.inc('x');
    counters.inc('x', { b: '2', a: '1' }, 2);
    counters.inc('x', { a: '1', b: '2', c: '3' });
    counters.inc('x', { a: '1' }, 4);
    counters.inc('x', { a: '2', b: '2' });
    expect(counters.snapshot()).toEqual([
      { name: 'x', labels: { a: '1', b: '2' }, value: 3 },
      { name: 'x', labels: { a: '1' }, value: 5 },
      { name: 'x', labels: {}, value: 1 },
      { name: 'x', labels: { a: '1', b: '2', c: '3' }, value: 1 },
      { name: 'x', labels: { a: '2', b: '2' }, value: 1 },
    ]);
  });

  it('sums the samples matching a partial label set', () => {
    const counters = new Counters();
    counters.inc('events_total', { category: 'holdup', input: 'ip' }, 2);
    counters.inc('events_total', { category: 'holdup', input: 'serial' });
    counters.inc('events_total', { category: 'burglary', input: 'ip' });
    counters.inc('events_duplicate_total');
    expect(counters.get('events_total', { category: 'holdup' })).toBe(3);
    expect(counters.get('events_total')).toBe(4);
    expect(counters.get('events_duplicate_total')).toBe(1);
    expect(counters.get('connections_total')).toBe(0);
  });

  it('tells every listener about each increment', () => {
    const counters = new Counters();
    const seen: Array<[string, Labels, number]> = [];
    counters.onIncrement((name, labels, by) => seen.push([name, labels, by]));
    counters.inc('connections_total', { input: 'ip' }, 3);
    expect(seen).toEqual([['connections_total', { input: 'ip' }, 3]]);
  });
});

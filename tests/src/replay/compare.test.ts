import { describe, expect, it } from 'vitest';
import { compareEvents, formatDifferences } from '../../../src/replay/compare.js';

const event = (overrides: Record<string, unknown> = {}) => ({
  id: '018f2c6e-0000-7000-8000-000000000001',
  receivedAt: '2024-05-01T12:00:00.000Z',
  source: { input: 'panels', transport: 'tcp', peer: '10.0.0.7:40112' },
  account: '1234',
  code: { scheme: 'contact-id', value: '121', description: 'Duress' },
  category: 'duress',
  reasons: ['Contact ID 121 "Duress": duress'],
  raw: '1234181121010158',
  ...overrides,
});

describe('compareEvents', () => {
  it('finds nothing between equal streams', () => {
    expect(compareEvents([event(), event({ account: '9' })], [event(), event({ account: '9' })])).toEqual([]);
  });

  it('names each differing field by its path, nested and in arrays', () => {
    const actual = event({ category: 'panic', source: { input: 'panels', transport: 'tcp' }, reasons: ['a', 'b'] });
    const expected = event({ reasons: ['a'] });
    expect(compareEvents([actual], [expected])).toEqual([
      {
        index: 0,
        kind: 'changed',
        fields: [
          { path: 'source.peer', expected: '10.0.0.7:40112', actual: undefined },
          { path: 'category', expected: 'duress', actual: 'panic' },
          { path: 'reasons[1]', expected: undefined, actual: 'b' },
        ],
      },
    ]);
  });

  it('reports events only one side has', () => {
    expect(compareEvents([event()], [event(), event({ account: '2' })])).toEqual([{ index: 1, kind: 'missing', expected: event({ account: '2' }) }]);
    expect(compareEvents([event(), event({ account: '3' })], [event()])).toEqual([{ index: 1, kind: 'unexpected', actual: event({ account: '3' }) }]);
  });

  it('leaves out ignored fields and everything under them', () => {
    const actual = event({ id: 'other', receivedAt: '2024-05-01T12:00:00.001Z', source: { input: 'panels', transport: 'replay' } });
    expect(compareEvents([actual], [event()], { ignore: ['id', 'receivedAt', 'source'] })).toEqual([]);
    expect(compareEvents([actual], [event()], { ignore: ['id', 'receivedAt', 'source.peer'] })).toEqual([
      { index: 0, kind: 'changed', fields: [{ path: 'source.transport', expected: 'tcp', actual: 'replay' }] },
    ]);
  });

  it('does not treat a field name that merely starts like an ignored one as ignored', () => {
    const differences = compareEvents([event({ raw: 'x', rawish: 1 })], [event()], { ignore: ['raw'] });
    expect(differences).toEqual([{ index: 0, kind: 'changed', fields: [{ path: 'rawish', expected: undefined, actual: 1 }] }]);
  });
});

describe('formatDifferences', () => {
  it('writes one readable line per field, numbering events from 1', () => {
    const lines = formatDifferences(compareEvents([event({ category: 'panic' })], [event()]));
    expect(lines).toEqual(['event 1: category: expected "duress", got "panic"']);
  });

  it('summarises a missing or unexpected event by the fields a person knows it by', () => {
    const [missing] = formatDifferences(compareEvents([], [event()]));
    expect(missing).toBe(
      'event 1: missing from the replay, expected {"receivedAt":"2024-05-01T12:00:00.000Z","account":"1234","code":"121","category":"duress","raw":"1234181121010158"}',
    );
    expect(formatDifferences(compareEvents([event()], []))[0]).toMatch(/^event 1: not expected, the replay gave .*"category":"duress"/);
  });

  it('stops after the limit and says how many lines are left', () => {
    const actual = Array.from({ length: 5 }, () => event({ category: 'fire' }));
    const expected = Array.from({ length: 5 }, () => event());
    const lines = formatDifferences(compareEvents(actual, expected), 3);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('… and 2 more difference lines');
  });
});

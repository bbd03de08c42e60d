import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MQTT_PREFIXES_FILE, MqttPrefixHistory } from '../../../adapters/outputs/mqtt-prefix-history.js';
import { silentLogger } from '../../../src/ports.js';

describe('MqttPrefixHistory: the former topic prefixes whose retained states are still to clear', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const dataDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-prefixes-'));
    dirs.push(dir);
    return dir;
  };
  /** A run of the gateway: opens the history afresh, as a start does. */
  const run = (dir: string, output: string, prefix: string, inUse: string[] = [prefix]) => MqttPrefixHistory.open(dir, silentLogger).arrive(output, prefix, inUse);

  it('has nothing to clear on a first run or an unchanged prefix, and the former one after a change, until cleared', () => {
    const dir = dataDir();
    expect(run(dir, 'central', 'a')).toEqual([]);
    expect(statSync(path.join(dir, MQTT_PREFIXES_FILE)).mode & 0o777).toBe(0o600);
    expect(run(dir, 'central', 'a')).toEqual([]);
    expect(run(dir, 'central', 'b')).toEqual(['a']);
    // Not cleared (the broker was down all that run): a second rename keeps both.
    expect(run(dir, 'central', 'c')).toEqual(['a', 'b']);
    const history = MqttPrefixHistory.open(dir, silentLogger);
    expect(history.arrive('central', 'c', ['c'])).toEqual(['a', 'b']);
    history.cleared('central', 'a');
    expect(run(dir, 'central', 'c')).toEqual(['b']);
    // Back to a former prefix: it is the output's own again, not cleared.
    expect(run(dir, 'central', 'b')).toEqual(['c']);
  });

  it('does not clear a former prefix another output now uses, and keeps outputs apart by name', () => {
    const dir = dataDir();
    run(dir, 'one', 'x');
    run(dir, 'two', 'y');
    // The two outputs swapped prefixes: each old tree is the other's live one.
    expect(run(dir, 'one', 'y', ['x', 'y'])).toEqual([]);
    expect(run(dir, 'two', 'x', ['x', 'y'])).toEqual([]);
  });

  it('does not clear a former prefix that holds another output\'s topics: its incidents/+ would match that output\'s health', () => {
    const dir = dataDir();
    run(dir, 'central', 'site');
    expect(run(dir, 'central', 'gw', ['gw', 'site/incidents'])).toEqual([]);
    // Under another's prefix is no such overlap: {site/x}/incidents/+ is none of site's topics.
    run(dir, 'other', 'site/x');
    expect(run(dir, 'other', 'y', ['gw', 'y', 'site'])).toEqual(['site/x']);
  });

  it('takes an unreadable file as empty, and the next run writes it anew', () => {
    const dir = dataDir();
    writeFileSync(path.join(dir, MQTT_PREFIXES_FILE), '{"outputs": {"central": {"topicPrefix": "a"', { mode: 0o600 });
    expect(run(dir, 'central', 'b')).toEqual([]);
    expect(run(dir, 'central', 'c')).toEqual(['b']);
  });
});

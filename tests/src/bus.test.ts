import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.js';
import { Counters } from '../../src/observability/counters.js';
import { silentLogger, type Logger } from '../../src/ports.js';
import { testEvent } from '../helpers/output-events.js';

class Listener {
  readonly heard: string[] = [];
}

class Broken {}

function recordingLogger(lines: Array<{ obj: object; msg: string | undefined }>): Logger {
  const logger: Logger = {
    ...silentLogger,
    error: (obj, msg) => lines.push({ obj, msg }),
    child: () => logger,
  };
  return logger;
}

describe('EventBus', () => {
  it('tells each listener, in order, what it listens for', () => {
    const bus = new EventBus({ logger: silentLogger });
    const a = new Listener();
    bus.onTrafficSeen(a, (account, at) => a.heard.push(`traffic ${account} ${at}`));
    bus.onEventDelivered(a, (output, event) => a.heard.push(`delivered ${output} ${event.id}`));
    const event = testEvent();
    bus.emitTrafficSeen('1234', 5);
    bus.emitEventDelivered('cms', event);
    expect(a.heard).toEqual(['traffic 1234 5', `delivered cms ${event.id}`]);
  });

  it('isolates a listener that throws: logged and counted, the emitter and the other listeners go on', () => {
    const lines: Array<{ obj: object; msg: string | undefined }> = [];
    const counters = new Counters();
    const bus = new EventBus({ logger: recordingLogger(lines), counters });
    const after = new Listener();
    bus.onTrafficSeen(new Broken(), () => {
      throw new Error('listener bug');
    });
    bus.onTrafficSeen(after, (account) => after.heard.push(account));
    expect(() => bus.emitTrafficSeen('1234', 1)).not.toThrow();
    expect(after.heard).toEqual(['1234']);
    expect(counters.get('bus_listener_errors_total', { event: 'trafficSeen', listener: 'Broken' })).toBe(1);
    expect(lines).toMatchObject([{ obj: { event: 'trafficSeen', listener: 'Broken' }, msg: 'event bus listener failed' }]);
  });

  it('removeListeners drops only that owner\'s listeners, on every event', () => {
    const bus = new EventBus({ logger: silentLogger });
    const leaving = new Listener();
    const staying = new Listener();
    bus.onTrafficSeen(leaving, (account) => leaving.heard.push(account));
    bus.onEventDelivered(leaving, (output) => leaving.heard.push(output));
    bus.onFrameStored(leaving, (events) => leaving.heard.push(`${events.length} stored`));
    bus.onOutputStateChanged(leaving, (change) => leaving.heard.push(change.output));
    bus.onTrafficSeen(staying, (account) => staying.heard.push(account));
    bus.removeListeners(leaving);
    bus.emitTrafficSeen('1234', 1);
    bus.emitEventDelivered('cms', testEvent());
    bus.emitFrameStored([testEvent()]);
    bus.emitOutputStateChanged({ output: 'cms', account: null, qualifier: 'new', reasons: [] });
    expect(leaving.heard).toEqual([]);
    expect(staying.heard).toEqual(['1234']);
  });
});

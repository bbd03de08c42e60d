import { describe, expect, it } from 'vitest';
import { ConnectionSlots, type SlotLimit } from '../../../adapters/system/connection-slots.js';

interface Held {
  host: string;
  name: string;
  busy?: boolean;
}

/** Slots whose evictions are written down, and a way to take connections the way a listener does. */
function slotsOf(maxConnections: number, maxConnectionsPerPeer: number) {
  const slots = new ConnectionSlots<Held>({ maxConnections, maxConnectionsPerPeer }, (held) => held.busy === true);
  const evicted: Array<[string, SlotLimit]> = [];
  const open = (host: string, name: string, busy = false): SlotLimit | Held => {
    const refused = slots.admit(host, (held, limit) => evicted.push([held.name, limit]));
    if (refused !== undefined) return refused;
    const held = { host, name, busy };
    slots.add(held);
    return held;
  };
  return { slots, evicted, open };
}

describe('ConnectionSlots', () => {
  it("at an address's limit closes that address's oldest unproven connection, then refuses once all are proven", () => {
    const { slots, evicted, open } = slotsOf(10, 2);
    const a = open('192.0.2.1', 'a') as Held;
    open('192.0.2.1', 'b');
    open('192.0.2.2', 'other');
    slots.prove(a);
    expect(open('192.0.2.1', 'c')).toMatchObject({ name: 'c' });
    expect(evicted).toEqual([['b', 'peer-limit']]);
    expect(open('192.0.2.1', 'd')).toMatchObject({ name: 'd' });
    expect(evicted).toEqual([['b', 'peer-limit'], ['c', 'peer-limit']]);
    expect(slots.size).toBe(3);
  });

  it('refuses at an address limit when every connection of the address has proven itself', () => {
    const { slots, open } = slotsOf(10, 1);
    slots.prove(open('192.0.2.1', 'a') as Held);
    expect(open('192.0.2.1', 'b')).toBe('peer-limit');
    expect(open('192.0.2.2', 'c')).toMatchObject({ name: 'c' });
  });

  it("at maxConnections passes over a connection whose first frame is being decided while another is idle", () => {
    const { evicted, open } = slotsOf(2, 2);
    open('192.0.2.1', 'deciding', true);
    open('192.0.2.2', 'idle');
    expect(open('192.0.2.3', 'new')).toMatchObject({ name: 'new' });
    expect(evicted).toEqual([['idle', 'max-connections']]);
  });

  it('forgets a closed connection once: its place is free, and a second forget says it was already gone', () => {
    const { slots, open } = slotsOf(1, 1);
    const a = open('192.0.2.1', 'a') as Held;
    slots.prove(a);
    expect(open('192.0.2.2', 'b')).toBe('max-connections');
    expect(slots.forget(a)).toBe(true);
    expect(slots.forget(a)).toBe(false);
    expect(open('192.0.2.2', 'b')).toMatchObject({ name: 'b' });
  });

  it('tells, without closing anything, which limit would refuse a new connection now', () => {
    const { slots, evicted, open } = slotsOf(3, 2);
    const a = open('192.0.2.1', 'a') as Held;
    const b = open('192.0.2.1', 'b') as Held;
    // b has sent nothing valid: it would make room for its address.
    slots.prove(a);
    expect(slots.refuses('192.0.2.1')).toBeUndefined();
    slots.prove(b);
    expect(slots.refuses('192.0.2.1')).toBe('peer-limit');
    expect(slots.refuses('192.0.2.2')).toBeUndefined();
    slots.prove(open('192.0.2.2', 'c') as Held);
    expect(slots.refuses('192.0.2.3')).toBe('max-connections');
    expect(evicted).toEqual([]);
    expect(slots.size).toBe(3);
    slots.forget(a);
    expect([slots.refuses('192.0.2.1'), slots.refuses('192.0.2.3')]).toEqual([undefined, undefined]);
  });
});

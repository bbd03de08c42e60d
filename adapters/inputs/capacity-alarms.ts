import type { Transport } from '../../src/model/event.js';
import type { LimitReached } from '../../src/pipeline/capacity-alarm.js';
import type { SlotLimit } from '../system/connection-slots.js';
import { notAccepted } from '../system/listener.js';

/*
 * What an input that turns panels away tells the operator (CapacityAlarm): the supervisory event's reason, naming
 * the limit and what to do, and the health detail. Kept apart from listener.ts, which the DC-09 socket worker loads.
 */

/** An input's connection places, for what refusals mean: `SIA over IP input galaxy`, and its limits. */
export interface HeldPlaces {
  /** How the supervisory event names the input, with its type: `SIA over IP input galaxy`. */
  label: string;
  name: string;
  maxConnections: number;
  maxConnectionsPerPeer: number;
  transport: Transport;
}

/**
 * What it means that an input still turns connections from `host` away at `limit` after a burst: the supervisory
 * event's reason and the health detail. `noRoom`: why none of its connections made room.
 */
export function refusalAlarm(places: HeldPlaces, limit: SlotLimit, host: string, noRoom: string): LimitReached {
  const { label, name, maxConnections, maxConnectionsPerPeer, transport } = places;
  if (limit === 'max-connections') {
    return {
      reason: `${label} refused connections at maxConnections (${maxConnections}): ${noRoom}, so a panel reporting now may not get through; look for a connection flood (GET /healthz lists the input) or raise inputs.${name}.maxConnections`,
      detail: `maxConnections (${maxConnections}) reached: new connections are refused`,
      transport,
    };
  }
  return {
    reason: `${label} refused connections from ${host} at maxConnectionsPerPeer (${maxConnectionsPerPeer}): ${noRoom}, so a panel at that address reporting now may not get through; look for a connection flood from it (GET /healthz lists the input) or, when panels share it behind NAT, raise inputs.${name}.maxConnectionsPerPeer`,
    detail: `${host} holds maxConnectionsPerPeer (${maxConnectionsPerPeer}) connections: its new connections are refused`,
    transport,
  };
}

/** What it means that the input `label` (`DC-09 input panels`) could not accept a connection: its reason and detail. */
export function acceptFailedAlarm(label: string, code: string | undefined, transport: Transport): LimitReached {
  return {
    reason: `${label} could not accept a connection (${code}): the process may be out of file descriptors, so a panel reporting now may not get through; look for a connection flood or a descriptor leak (GET /healthz lists the input) or raise LimitNOFILE`,
    detail: `connections ${notAccepted(code)}`,
    transport,
  };
}

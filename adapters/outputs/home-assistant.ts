import { CATEGORIES, DURESS_CATEGORIES } from '../../src/model/event.js';
import { duressDevicesOf } from '../../src/assurance/devices.js';
import type { Audience, Logger } from '../../src/ports.js';
import type { MqttOutputSettings } from '../../src/settings/settings.js';
import type { Site } from '../../src/settings/sites.js';
import { topicSegment, valueHash, type MqttOutput } from './mqtt.js';

/**
 * Home Assistant MQTT discovery, device-based (one retained `{discoveryPrefix}/device/{object id}/config` holding
 * every entity of the gateway under `cmps`): https://www.home-assistant.io/integrations/mqtt/#device-discovery-payload
 *
 * The entities read topics the gateway already keeps: events, the retained `{prefix}/status` (availability),
 * `{prefix}/devices/{site}/{device}`, `{prefix}/incidents/{site}` and `{prefix}/health`. The last three are
 * published on `central` outputs only, and on a `local` output discovery offers no entity that could change
 * because of a duress: no incident or device sensors, no health, no duress event types. What it publishes there
 * depends on the configuration alone.
 */

export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';

/** `homeAssistant: true` → the default prefix; `{ discoveryPrefix }` → that one; false → no discovery. */
export function discoveryPrefixOf(setting: MqttOutputSettings['homeAssistant']): string | undefined {
  if (setting === false || setting === undefined) return undefined;
  return setting === true ? DEFAULT_DISCOVERY_PREFIX : setting.discoveryPrefix;
}

/** Discovery object ids and component ids allow letters, digits, `_` and `-` only. */
function idPart(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_-]/g, '_');
  return cleaned === '' ? 'unknown' : cleaned;
}

/**
 * A site's part of its components' ids. Cleaned, two site ids could read the same (`shop.1`, `shop_1`) and one
 * site's entities would silently replace the other's, so a cleaned one carries a hash of the id as configured.
 */
function siteIdPart(siteId: string): string {
  const cleaned = idPart(siteId);
  return cleaned === siteId ? cleaned : `${cleaned}_${valueHash(siteId)}`;
}

export interface DiscoveryScope {
  gateway: { id: string; version: string };
  output: { name: string; topicPrefix: string; audience: Audience };
  sites: readonly Site[];
}

/** One entity under `cmps`: its platform (`p`), its unique id, and the platform's options. */
export type DiscoveryComponent = { p: string; unique_id: string } & Record<string, unknown>;

export interface DeviceDiscoveryPayload {
  dev: { ids: string[]; name: string; mf: string; mdl: string; sw: string };
  o: { name: string; sw: string };
  avty: Array<{ t: string; val_tpl: string }>;
  cmps: Record<string, DiscoveryComponent | { p: string }>;
  qos: number;
}

/** The gateway seen through one output: two outputs on one broker are two devices, each with its own entities. */
export function discoveryObjectId(scope: Pick<DiscoveryScope, 'gateway' | 'output'>): string {
  return `panelbridge_${idPart(scope.gateway.id)}_${idPart(scope.output.name)}`;
}

export function discoveryTopic(discoveryPrefix: string, scope: Pick<DiscoveryScope, 'gateway' | 'output'>): string {
  return `${discoveryPrefix}/device/${discoveryObjectId(scope)}/config`;
}

/** Event types a site's event entity announces; a local audience never sees duress categories. */
export function eventTypesFor(audience: Audience): string[] {
  return CATEGORIES.filter((c) => audience === 'central' || !DURESS_CATEGORIES.has(c));
}

const ON_WHEN = (condition: string): string => `{{ 'ON' if ${condition} else 'OFF' }}`;

/**
 * An event entity's reading of an event: its category is the event type, a few fields ride along as attributes.
 * An event stored before `verified` existed counts as verified (`is not false`: an absent field is not false).
 */
const EVENT_READING =
  "{{ {'event_type': value_json.category, 'event_id': value_json.id, 'account': value_json.account, 'qualifier': value_json.qualifier, " +
  "'description': (value_json.code.description if value_json.code else none), 'test': value_json.test, 'verified': value_json.verified is not false} | to_json }}";

/**
 * Events of accounts no site claims are published under their account (`{prefix}/events/{account}/…`), a level no
 * site entity reads. An event entity ignores a message its template renders empty, so the entities that read every
 * account's level for them keep only events without a site: a site's events stay on the site's entity alone.
 */
const UNASSIGNED_EVENT_READING = `{% if value_json.site is not defined or value_json.site is none %}${EVENT_READING}{% endif %}`;

/** The entities of the gateway on one output, keyed by component id. */
export function discoveryComponents(scope: DiscoveryScope): Record<string, DiscoveryComponent> {
  const { output } = scope;
  const objectId = discoveryObjectId(scope);
  const prefix = output.topicPrefix;
  const components: Record<string, DiscoveryComponent> = {};
  const add = (id: string, component: Omit<DiscoveryComponent, 'unique_id'>): void => {
    components[id] = { ...component, unique_id: `${objectId}_${id}` } as DiscoveryComponent;
  };
  const central = output.audience === 'central';

  for (const site of scope.sites) {
    const siteTopic = topicSegment(site.id);
    const siteId = siteIdPart(site.id);
    const siteName = site.name ?? site.id;
    add(`${siteId}_event`, {
      p: 'event',
      name: `${siteName} events`,
      state_topic: `${prefix}/events/${siteTopic}/+`,
      event_types: eventTypesFor(output.audience),
      value_template: EVENT_READING,
    });
    if (!central) continue;
    add(`${siteId}_open_incident`, {
      p: 'binary_sensor',
      name: `${siteName} open incident`,
      device_class: 'safety',
      state_topic: `${prefix}/incidents/${siteTopic}`,
      value_template: ON_WHEN('value_json.open > 0'),
      json_attributes_topic: `${prefix}/incidents/${siteTopic}`,
    });
    for (const device of duressDevicesOf(site)) {
      const deviceTopic = `${prefix}/devices/${siteTopic}/${topicSegment(device.device)}`;
      add(`${siteId}_${idPart(device.device)}_test_overdue`, {
        p: 'binary_sensor',
        name: `${siteName} ${device.name} test overdue`,
        device_class: 'problem',
        entity_category: 'diagnostic',
        state_topic: deviceTopic,
        value_template: ON_WHEN('value_json.overdue'),
        json_attributes_topic: deviceTopic,
      });
    }
  }

  if (central) {
    // A duress from an account on no site (a typo in the site's accounts, a panel nobody configured) must show too.
    // One entity per category, each reading only that category's level, so Home Assistant is sent nothing else.
    for (const category of DURESS_CATEGORIES) {
      add(`unassigned_accounts_${category}`, {
        p: 'event',
        name: `Unassigned accounts ${category}`,
        state_topic: `${prefix}/events/+/${topicSegment(category)}`,
        event_types: [category],
        value_template: UNASSIGNED_EVENT_READING,
      });
    }
    const healthTopic = `${prefix}/health`;
    // The gateway republishes health at least every minute; older than three means nobody is publishing it.
    const health = { state_topic: healthTopic, entity_category: 'diagnostic', expire_after: 180 };
    add('health_problem', { p: 'binary_sensor', name: 'Health problem', device_class: 'problem', value_template: ON_WHEN("value_json.status != 'ok'"), json_attributes_topic: healthTopic, ...health });
    add('backlog', { p: 'sensor', name: 'Backlog', unit_of_measurement: 'events', state_class: 'measurement', value_template: '{{ value_json.backlog }}', ...health });
    add('oldest_pending_age', {
      p: 'sensor',
      name: 'Oldest pending age',
      device_class: 'duration',
      unit_of_measurement: 's',
      state_class: 'measurement',
      value_template: '{{ value_json.oldestPendingAgeSeconds if value_json.oldestPendingAgeSeconds is not none else 0 }}',
      ...health,
    });
    add('dead_letters', { p: 'sensor', name: 'Dead letters', unit_of_measurement: 'events', state_class: 'measurement', value_template: '{{ value_json.deadLetters }}', ...health });
  }
  return components;
}

/** The whole retained discovery message; `removed` component ids are sent as `{ p }` alone, which deletes them. */
export function discoveryPayload(scope: DiscoveryScope, removed: ReadonlyMap<string, string> = new Map()): DeviceDiscoveryPayload {
  const { gateway, output } = scope;
  const cmps: DeviceDiscoveryPayload['cmps'] = {};
  for (const [id, platform] of removed) cmps[id] = { p: platform };
  Object.assign(cmps, discoveryComponents(scope));
  return {
    dev: {
      ids: [discoveryObjectId(scope)],
      name: `panelbridge ${gateway.id}${output.audience === 'local' ? ' (local)' : ''}`,
      mf: 'panelbridge',
      mdl: 'Alarm receiver gateway',
      sw: gateway.version,
    },
    o: { name: 'panelbridge', sw: gateway.version },
    // The output's retained status is JSON ({"state":"online",…}); the template turns it into online/offline.
    avty: [{ t: `${output.topicPrefix}/status`, val_tpl: '{{ value_json.state }}' }],
    cmps,
    qos: 1,
  };
}

export interface HomeAssistantDiscoveryDeps {
  gateway: { id: string; version: string };
  sites: () => readonly Site[];
  logger: Logger;
  discoveryPrefix: string;
}

/**
 * Keeps the discovery message retained on one MQTT output: published on every connect, again when Home Assistant
 * announces `online` on `{discoveryPrefix}/status` (it restarted and may have lost its registry), and when the
 * sites are reloaded.
 */
export class HomeAssistantDiscovery {
  private readonly logger: Logger;
  private unsubscribe: (() => Promise<void>) | undefined;
  private removeConnectListener: (() => void) | undefined;
  /** Components published so far, by id → platform, so ones no longer configured can be removed. */
  private published = new Map<string, string>();

  constructor(
    private readonly output: MqttOutput,
    private readonly deps: HomeAssistantDiscoveryDeps,
  ) {
    this.logger = deps.logger.child({ component: 'home-assistant', output: output.name });
  }

  get topic(): string {
    return discoveryTopic(this.deps.discoveryPrefix, this.scope());
  }

  async start(): Promise<void> {
    this.removeConnectListener = this.output.onConnected(() => void this.publish());
    this.unsubscribe = await this.output.subscribeTo(`${this.deps.discoveryPrefix}/status`, (_topic, payload) => {
      if (payload.toString('utf8').trim() === 'online') void this.publish();
    });
    if (this.output.health().state === 'up') await this.publish();
  }

  /** Publishes the discovery message now; a failure is logged and retried at the next connect or HA birth. */
  async publish(): Promise<void> {
    const scope = this.scope();
    const current = discoveryComponents(scope);
    const removed = new Map([...this.published].filter(([id]) => !(id in current)));
    try {
      await this.output.publishRetainedTo(this.topic, discoveryPayload(scope, removed));
      this.published = new Map(Object.entries(current).map(([id, c]) => [id, c.p]));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'Home Assistant discovery not published; will retry on reconnect');
    }
  }

  async stop(): Promise<void> {
    this.removeConnectListener?.();
    await this.unsubscribe?.().catch(() => undefined);
  }

  private scope(): DiscoveryScope {
    return { gateway: this.deps.gateway, output: this.output, sites: this.deps.sites() };
  }
}

import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { Logger as PinoLogger } from 'pino';
import type { AccessXmlInputSettings, SerialInputSettings, Settings, SettingsIssue } from '../../src/settings/settings.js';
import type { Site } from '../../src/settings/sites.js';
import { EventBus } from '../../src/bus.js';
import { SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { Recorder, type EventHook } from '../../src/pipeline/recorder.js';
import { Dc09Receiver } from '../../src/pipeline/dc09-receiver.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource, type RandomBytes } from '../../src/model/ids.js';
import type { NormalizedEvent, Transport } from '../../src/model/event.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import { captureLine } from '../../src/replay/capture.js';
import type { Clock, Logger, OutputAdapter } from '../../src/ports.js';
import { Dc09Listener } from '../inputs/dc09.js';
import { StdoutOutput } from '../outputs/stdout.js';
import { MqttOutput } from '../outputs/mqtt.js';
import { WebhookOutput } from '../outputs/webhook.js';
import { Dc09Output } from '../outputs/dc09.js';
import type { LinkStateReport } from '../outputs/link-state.js';
import { AutomationOutput } from '../outputs/automation.js';
import { discoveryPrefixOf, HomeAssistantDiscovery } from '../outputs/home-assistant.js';
import { HealthStatePublisher, type HealthReport } from '../outputs/health-state.js';
import { ApiServer } from '../api/server.js';
import { TokenRegistry } from '../api/tokens.js';
import { registerHealthRoutes, type HealthSource } from '../api/routes/health.js';
import { registerTokenRoutes } from '../api/routes/tokens.js';
import { AuditLog } from '../system/audit-log.js';
import { ConsoleFeed } from '../api/console/feed.js';
import { registerConsole } from '../api/console/routes.js';
import { GatewayMetrics } from '../system/metrics.js';
import { resolveDc09Accounts } from './config.js';
import { wireAssurance, type AssuranceWiring } from './assurance-wiring.js';
import { packageVersion } from './version.js';
import { listenFailure } from './startup.js';
import { gatewayEvent, VERIFIED, type EventBuilderDeps } from '../../src/pipeline/event-builder.js';

export interface RunningInput {
  name: string;
  stop(): Promise<void>;
  health(): { state: string; detail?: string };
}

export interface GatewayOptions {
  settings: Settings;
  logger: PinoLogger;
  clock: Clock;
  /** JSONL capture of every raw frame received (`run --capture`). */
  captureFile?: string;
  /** `replay --dry-run`: an outbox other than the one in dataDir. */
  outbox?: Outbox;
  /** Event ids and DC-09 ACK pads; seeded by `replay` so a replay is reproducible. */
  random?: RandomBytes;
  /** False for `replay`: inputs get no listeners and are fed through `frameHandlers`. */
  listen?: boolean;
  /** Outputs' clock when the pipeline's is not the wall clock (`replay`): webhook signatures must be fresh. */
  outputClock?: Clock;
}

function inputKeys(index: number): { host: string; port: string } {
  return { host: `inputs[${index}].host`, port: `inputs[${index}].port` };
}

/** What an input does with one raw frame (decode, store, decide the answer); `replay` feeds captures to it. */
export type FrameHandler = (frame: Uint8Array, transport: Transport, peer?: string) => Promise<unknown>;

/**
 * The running gateway: outputs and dispatcher first, then the API, then the inputs (so nothing is ACKed before
 * it can be stored and delivered); stop runs in the reverse order and drains in-flight frames.
 */
export class Gateway {
  readonly counters = new Counters();
  readonly id: string;
  readonly version = packageVersion();
  readonly outbox: Outbox;
  readonly outputs: OutputAdapter[];
  readonly dispatcher: Dispatcher;
  readonly recorder: Recorder;
  readonly hooks: EventHook[] = [];
  /** Events delivered and traffic seen, for the assurance and the console. */
  readonly bus: EventBus;
  readonly inputs: RunningInput[] = [];
  readonly frameHandlers = new Map<string, FrameHandler>();
  readonly api: ApiServer | undefined;
  readonly metrics: GatewayMetrics;
  /** One id source for every event of this gateway, so ids stay strictly time-ordered. */
  readonly builder: EventBuilderDeps;
  private sites: readonly Site[];
  private readonly logger: Logger;
  private readonly startedAt: number;
  private assurance: AssuranceWiring | undefined;
  private audit: AuditLog | undefined;
  private consoleFeed: ConsoleFeed | undefined;
  private readonly discoveries: HomeAssistantDiscovery[] = [];
  private healthState: HealthStatePublisher | undefined;

  private constructor(
    private readonly options: GatewayOptions,
    private readonly tokens: TokenRegistry | undefined,
  ) {
    const { settings, clock } = options;
    this.logger = options.logger as unknown as Logger;
    this.startedAt = clock.now();
    this.id = settings.gateway?.id ?? os.hostname();
    this.sites = settings.sites;
    this.builder = { ids: createIdSource(clock, options.random), sites: () => this.sites };
    this.bus = new EventBus({ logger: this.logger.child({ component: 'bus' }), counters: this.counters });
    this.outbox =
      options.outbox ??
      SqliteOutbox.open({
        dataDir: settings.dataDir,
        dedupeWindowMs: settings.dedupeWindow,
        clock,
        retentionMs: settings.retention,
        deadLetterRetentionMs: settings.deadLetterRetention,
      });
    this.outputs = settings.outputs.map((o) => this.createOutput(o));
    this.dispatcher = new Dispatcher({
      outbox: this.outbox,
      outputs: this.outputs,
      clock,
      logger: this.logger,
      localMaxBacklog: new Map(settings.outputs.flatMap((o) => (o.maxBacklog === undefined ? [] : [[o.name, o.maxBacklog] as const]))),
      onDelivered: (output, event) => this.bus.emitEventDelivered(output, event),
    });
    this.metrics = new GatewayMetrics({ counters: this.counters, dispatcher: this.dispatcher, outbox: this.outbox, clock });
    this.recorder = new Recorder({
      outbox: this.outbox,
      counters: this.counters,
      logger: this.logger.child({ component: 'recorder' }),
      backlogLimit: settings.backlogLimit,
      // A local output that is down sheds its own oldest events; only central backlogs make the inputs NAK.
      backlogOutputs: this.outputs.filter((o) => o.audience === 'central').map((o) => o.name),
      hooks: this.hooks,
    });
    const api = settings.api;
    this.api =
      api === undefined || tokens === undefined
        ? undefined
        : new ApiServer({
            host: api.host,
            port: api.port,
            logger: this.logger.child({ component: 'api' }),
            tokens,
            counters: this.counters,
            allowedOrigins: api.allowedOrigins,
            maxBodyBytes: api.maxBodyBytes,
            limits: { maxConnections: api.maxConnections, headersTimeoutMs: api.headersTimeout, requestTimeoutMs: api.requestTimeout },
            tls: api.tls,
          });
  }

  static async start(options: GatewayOptions): Promise<{ gateway: Gateway } | { issues: SettingsIssue[] }> {
    const { api, dataDir } = options.settings;
    const tokens = api === undefined ? undefined : TokenRegistry.load(api, dataDir);
    if (tokens?.ok === false) return { issues: tokens.issues };
    const gateway = new Gateway(options, tokens?.registry);
    const issues = await gateway.startAll();
    return issues.length === 0 ? { gateway } : { issues };
  }


  /** SIGHUP: new sites take effect for the next frame; connections stay open. */
  reloadSites(sites: readonly Site[]): void {
    this.sites = sites;
    for (const discovery of this.discoveries) void discovery.publish();
    this.logger.info({ sites: sites.length }, 'sites reloaded');
  }

  health(): ReturnType<HealthSource['health']> {
    const now = this.options.clock.now();
    const outputs = this.outputs.map((o) => {
      const oldest = this.outbox.oldestPendingAt(o.name);
      return { name: o.name, kind: o.kind, ...o.health(), backlog: this.outbox.backlog(o.name), deadLetters: this.outbox.deadLetterCount(o.name), oldestPendingAgeMs: oldest === null ? null : now - oldest };
    });
    const inputs = this.inputs.map((i) => ({ name: i.name, ...i.health() }));
    const assurance = this.assurance?.health();
    const storage = this.outbox.storage();
    const degraded = [...outputs, ...inputs].some((x) => x.state !== 'up') || assurance?.state === 'degraded';
    return {
      status: degraded ? 'degraded' : 'ok',
      body: {
        status: degraded ? 'degraded' : 'ok',
        gateway: this.id,
        version: this.version,
        uptimeMs: now - this.startedAt,
        inputs,
        outputs,
        outbox: {
          entries: storage.entries,
          oldestStoredAt: storage.oldestStoredAt === null ? null : new Date(storage.oldestStoredAt).toISOString(),
          retention: { deliveredMs: this.options.settings.retention, deadLettersMs: this.options.settings.deadLetterRetention },
        },
        ...(assurance === undefined ? {} : { assurance }),
      },
    };
  }

  async stop(): Promise<void> {
    for (const input of [...this.inputs].reverse()) await input.stop();
    this.consoleFeed?.stop();
    await this.api?.stop();
    await this.assurance?.stop();
    this.audit?.close();
    for (const discovery of this.discoveries) await discovery.stop();
    await this.healthState?.stop();
    await this.dispatcher.stop();
    for (const output of this.outputs) await output.stop();
    this.outbox.close();
  }

  private async startAll(): Promise<SettingsIssue[]> {
    const { settings } = this.options;
    for (const [index, output] of this.outputs.entries()) {
      try {
        await output.start();
      } catch (error) {
        const configured = settings.outputs[index]!;
        if (configured.type !== 'automation') throw error;
        const keys = { host: `outputs[${index}].host`, port: `outputs[${index}].port` };
        throw listenFailure(error, `automation output "${configured.name}" on ${configured.host}:${configured.port}`, keys);
      }
    }
    this.dispatcher.start();
    // Live runs only: a replay must not mark devices tested, open incidents or write audit records from old captures.
    if (this.options.listen !== false) {
      const audit = this.openAuditLog();
      this.assurance = wireAssurance(this, settings, {
        clock: this.options.clock,
        logger: this.logger.child({ component: 'assurance' }),
        audit: (entry) => audit.append(entry),
      });
      await this.startMqttStates();
    }
    if (this.api !== undefined) {
      registerHealthRoutes(this.api, { gateway: this, metrics: this.metrics, deadLetters: (output) => this.outbox.deadLetters(output) });
      const audit = this.audit;
      registerTokenRoutes(this.api, { dataDir: settings.dataDir, audit: audit === undefined ? undefined : (entry) => audit.append(entry) });
      if (this.assurance !== undefined && this.tokens !== undefined) this.startConsole(this.api, this.assurance, this.tokens);
      await this.api.start().catch((error: unknown) => {
        throw listenFailure(error, `API on ${settings.api!.host}:${settings.api!.port}`, { host: 'api.host', port: 'api.port' });
      });
    }
    const issues: SettingsIssue[] = [];
    for (const [index, input] of settings.inputs.entries()) {
      if (input.type !== 'dc09') {
        // Replays feed serial and access-XML captures through the generic decode path instead.
        if (this.options.listen !== false)
          await this.startOtherInput(input).catch((error: unknown) => {
            throw input.type === 'access-xml' ? listenFailure(error, `${input.type} input "${input.name}" on ${input.host}:${input.port}`, inputKeys(index)) : error;
          });
        continue;
      }
      const resolved = resolveDc09Accounts(input, index);
      if (resolved.issues.length > 0) {
        issues.push(...resolved.issues);
        continue;
      }
      const logger = this.logger.child({ component: 'input', kind: 'dc09', name: input.name });
      const receiver = new Dc09Receiver({
        input: input.name,
        accounts: resolved.accounts,
        window: input.timestampWindow ?? settings.timestampWindow,
        strict: input.strict,
        osborneHoffman: input.osborneHoffman,
        clock: this.options.clock,
        random: this.options.random ?? randomBytes,
        recorder: this.recorder,
        builder: this.builder,
        counters: this.counters,
        logger,
        onAnswered: (answer, latencyMs) => this.metrics.observeAnswer(answer, latencyMs),
        ...this.captureHook(input.name),
        onTraffic: (account, at) => this.bus.emitTrafficSeen(account, at),
      });
      this.frameHandlers.set(input.name, (frame, transport, peer) => receiver.handleFrame(frame, transport, peer));
      if (this.options.listen === false) continue;
      const listener = new Dc09Listener({
        name: input.name,
        host: input.host,
        port: input.port,
        tcp: input.tcp,
        udp: input.udp,
        maxFrameBytes: input.maxFrameBytes,
        idleTimeoutMs: input.idleTimeout,
        firstFrameTimeoutMs: input.firstFrameTimeout,
        maxConnections: input.maxConnections,
        maxConnectionsPerPeer: input.maxConnectionsPerPeer,
        receiver,
        logger,
        counters: this.counters,
      });
      await listener.start().catch((error: unknown) => {
        throw listenFailure(error, `DC-09 input "${input.name}" on ${input.host}:${input.port}`, inputKeys(index));
      });
      this.inputs.push({ name: input.name, stop: () => listener.stop(), health: () => listener.health() });
    }
    return issues;
  }

  /** The duress console at `/`: fed by every stored and delivered event; signs in with the API's tokens. */
  private startConsole(api: ApiServer, assurance: AssuranceWiring, tokens: TokenRegistry): void {
    const clock = this.options.clock;
    const feed = new ConsoleFeed(() => clock.now());
    this.consoleFeed = feed;
    this.hooks.push(feed);
    this.bus.onEventDelivered(feed, (output, event) => feed.delivered(output, event));
    registerConsole(api, {
      source: {
        assurance: assurance.assurance,
        feed,
        sites: () => this.sites,
        health: () => this.health(),
        centralOutputs: this.outputs.filter((o) => o.audience === 'central').map((o) => o.name),
      },
      tokens,
      now: () => clock.now(),
    });
  }

  private openAuditLog(): AuditLog {
    const audit = AuditLog.open(this.options.settings.dataDir, this.options.clock);
    if (audit.broken !== undefined) {
      const { line, seq, reason } = audit.broken;
      this.logger.error({ line, seq, reason }, 'audit log chain is broken (run `panelbridge audit verify`); new records continue after it');
    }
    audit.onWriteError((error) => this.logger.error({ err: error }, 'audit records not written yet; retrying'));
    this.audit = audit;
    return audit;
  }

  /** Retained `{prefix}/health` on central MQTT outputs, and Home Assistant discovery where it is asked for. */
  private async startMqttStates(): Promise<void> {
    const mqtt = this.outputs.flatMap((output, index) => {
      const setting = this.options.settings.outputs[index];
      return output instanceof MqttOutput && setting?.type === 'mqtt' ? [{ output, discoveryPrefix: discoveryPrefixOf(setting.homeAssistant) }] : [];
    });
    const central = mqtt.filter(({ output }) => output.audience === 'central').map(({ output }) => output);
    if (central.length > 0) {
      this.healthState = new HealthStatePublisher(central, {
        report: () => this.health().body as unknown as HealthReport,
        clock: this.options.clock,
        logger: this.logger.child({ component: 'health-state' }),
      });
      this.healthState.start();
    }
    for (const { output, discoveryPrefix } of mqtt) {
      if (discoveryPrefix === undefined) continue;
      const discovery = new HomeAssistantDiscovery(output, {
        gateway: { id: this.id, version: this.version },
        sites: () => this.sites,
        logger: this.logger,
        discoveryPrefix,
      });
      await discovery.start();
      this.discoveries.push(discovery);
    }
  }

  private async startOtherInput(input: SerialInputSettings | AccessXmlInputSettings): Promise<void> {
    const deps = {
      clock: this.options.clock,
      recorder: this.recorder,
      builder: this.builder,
      counters: this.counters,
      logger: this.logger,
      ...this.captureHook(input.name),
    };
    // Imported only when configured: serialport and the XML parser cost memory every other gateway would carry.
    const adapter =
      input.type === 'serial'
        ? (await import('../inputs/serial.js')).createSerialInput(input, deps)
        : await (await import('../inputs/access-xml.js')).createAccessXmlInput(input, deps);
    await adapter.start();
    this.inputs.push({ name: input.name, stop: () => adapter.stop(), health: () => adapter.health() });
  }

  /** `run --capture`: every raw frame as a capture line, stamped `at` (the frame's receivedAt) or now. */
  private captureHook(input: string): { onFrame?: (frame: Uint8Array, transport: string, peer?: string, at?: number) => void } {
    const file = this.options.captureFile;
    if (file === undefined) return {};
    return {
      onFrame: (frame, transport, peer = '', at = this.options.clock.now()) => {
        appendFileSync(file, captureLine(frame, at, input, transport, peer) + '\n');
      },
    };
  }

  private createOutput(output: Settings['outputs'][number]): OutputAdapter {
    const clock = this.options.outputClock ?? this.options.clock;
    switch (output.type) {
      case 'stdout':
        return new StdoutOutput({ name: output.name, audience: output.audience });
      case 'mqtt': {
        const { type: _type, ...options } = output;
        return new MqttOutput(options, { clock, logger: this.logger, gateway: { id: this.id, version: this.version } });
      }
      case 'webhook': {
        const { type: _type, ...options } = output;
        return new WebhookOutput(options, { clock });
      }
      case 'dc09': {
        const { type: _type, ...options } = output;
        return new Dc09Output(options, {
          clock,
          logger: this.logger,
          ...(this.options.random === undefined ? {} : { random: this.options.random }),
          reportLinkState: (report) => this.recordOutputState(output.name, output.account, report),
        });
      }
      case 'automation': {
        const { type: _type, ...options } = output;
        return new AutomationOutput(options, {
          clock,
          logger: this.logger,
          reportLinkState: (report) => this.recordOutputState(output.name, options.account ?? null, report),
        });
      }
    }
  }

  /** An output's link to a monitoring centre went down or came back: a `supervisory` event, stored like any other. */
  private recordOutputState(output: string, account: string | null, report: LinkStateReport): void {
    const receivedAt = this.options.clock.now();
    const event = gatewayEvent(
      { category: 'supervisory', account, qualifier: report.qualifier, reasons: report.reasons },
      { input: output, transport: 'tcp', receivedAt, raw: new Uint8Array(), trust: VERIFIED },
      this.builder,
    );
    void this.recorder.record([event]).then((recorded) => {
      if (!recorded.ok) this.logger.error({ output, err: recorded.error.message }, 'output link state event not stored');
    });
  }
}

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import type { Logger as PinoLogger } from 'pino';
import type { Settings, SettingsIssue } from '../../src/settings/settings.js';
import type { Site } from '../../src/settings/sites.js';
import { EventBus, type OutputStateChange } from '../../src/bus.js';
import { SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { backlogLimitWithinHeap } from '../../src/outbox/pending-index.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { Recorder, type StoreFault } from '../../src/pipeline/recorder.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource, pooledRandomBytes, type RandomBytes } from '../../src/model/ids.js';
import type { Outbox } from '../../src/outbox/outbox.js';
import { captureLine } from '../../src/replay/capture.js';
import { DiscardCaptureBudget } from '../../src/replay/discard-budget.js';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import type { AdapterHealth, Audience, Clock, Logger, OutputAdapter } from '../../src/ports.js';
import { createInput, describeInput } from '../inputs/index.js';
import type { CaptureDiscard, CaptureFrame, Input } from '../inputs/input.js';
import { StdoutOutput } from '../outputs/stdout.js';
import { EMBEDDED_BROKER_PASSWORD_FILE, MqttOutput } from '../outputs/mqtt.js';
import { WebhookOutput } from '../outputs/webhook.js';
import { Dc09Output } from '../outputs/dc09.js';
import { AutomationOutput } from '../outputs/automation.js';
import { discoveryPrefixOf, HomeAssistantDiscovery } from '../outputs/home-assistant.js';
import { HealthStatePublisher, type HealthReport } from '../outputs/health-state.js';
import { CentralStatesCleaner } from '../outputs/mqtt-retained.js';
import { MqttPrefixHistory } from '../outputs/mqtt-prefix-history.js';
import { ApiServer } from '../api/server.js';
import { TokenRegistry } from '../api/tokens.js';
import { registerHealthRoutes, type HealthSource, type PublicHealth } from '../api/routes/health.js';
import { registerTokenRoutes } from '../api/routes/tokens.js';
import { AuditLog } from '../system/audit-log.js';
import { StoreFaultMark } from '../system/store-fault-mark.js';
import { ensurePrivateSecret } from '../system/files.js';
import { ConsoleFeed } from '../api/console/feed.js';
import { registerConsole } from '../api/console/routes.js';
import { GatewayMetrics } from '../system/metrics.js';
import { wireAssurance, type AssuranceWiring } from './assurance-wiring.js';
import { packageVersion } from './version.js';
import { listenFailure } from './startup.js';
import type { CaptureFile } from './capture-file.js';
import { auditReportEvent, outputLinkEvent, storeFaultEvents, type EventBuilderDeps } from '../../src/pipeline/event-builder.js';
import type { ControlStored } from '../../src/assurance/assurance.js';
import type { AuditEntry } from '../../src/assurance/audit-chain.js';

/**
 * While the outbox cannot store, its fault report is tried this often: storing it is how the gateway learns that
 * the disk works again when no panel happens to send (a quiet site, a panel that gave up retrying).
 */
const STORE_FAULT_RETRY_MS = 2_000;
const WAL_STUCK_DETAIL =
  'it cannot be checkpointed and grows with every event until the disk is full: another process holds a read transaction on outbox.sqlite (an open sqlite3 shell, a backup); end it and the WAL shrinks back';
/** How often the outbox's WAL is looked at (one stat): it grows by a few MB a second at most under a flood. */
const WAL_WATCH_MS = 5_000;

export interface GatewayOptions {
  settings: Settings;
  logger: PinoLogger;
  clock: Clock;
  /** JSONL capture of every raw frame received (`run --capture`). */
  capture?: CaptureFile;
  /** `replay --dry-run`: an outbox other than the one in dataDir. */
  outbox?: Outbox;
  /** Event ids and DC-09 ACK pads; seeded by `replay` so a replay is reproducible. */
  random?: RandomBytes;
  /** False for `replay`: inputs are created but open nothing; replay feeds each frame to its input's `handleFrame`. */
  listen?: boolean;
  /** False for `replay`: no sender is answered, so no ACK's bytes are built and no retransmit's events read back. */
  answersSent?: boolean;
  /** Outputs' clock when the pipeline's is not the wall clock (`replay`): webhook signatures must be fresh. */
  outputClock?: Clock;
  /** The V8 heap limit the backlog's index is held to (default: this process's heap_size_limit). */
  heapLimitBytes?: number;
}

/**
 * The part of /healthz a caller without a token sees: inputs and `local` outputs as they are (what they handle an
 * attacker on site sees anyway), a central output by its connection alone, and one without a connection to show
 * (a webhook, a DC-09 centre) not at all: its state moves when a delivery fails, and on a quiet site the first
 * delivery in a while may be a covert duress.
 */
function publicHealth(inputs: ReadonlyArray<{ name: string } & AdapterHealth>, outputs: ReadonlyArray<{ name: string; audience: Audience } & AdapterHealth>): PublicHealth {
  const shownInputs = inputs.map(({ name, state }) => ({ name, state }));
  const shownOutputs = outputs.flatMap(({ name, audience, state, linkState }) => {
    if (audience === 'local') return [{ name, state }];
    return linkState === undefined ? [] : [{ name, state: linkState }];
  });
  const degraded = [...shownInputs, ...shownOutputs].some((part) => part.state !== 'up');
  return { status: degraded ? 'degraded' : 'ok', inputs: shownInputs, outputs: shownOutputs };
}

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
  /** Frames stored, events delivered, traffic seen, output states changed: for the assurance, the console, replay. */
  readonly bus: EventBus;
  readonly api: ApiServer | undefined;
  readonly metrics: GatewayMetrics;
  /** One id source for every event of this gateway, so ids stay strictly time-ordered. */
  readonly builder: EventBuilderDeps;
  private sites: readonly Site[];
  private readonly createdInputs: Input[] = [];
  private readonly logger: Logger;
  private readonly startedAt: number;
  private assurance: AssuranceWiring | undefined;
  private audit: AuditLog | undefined;
  private consoleFeed: ConsoleFeed | undefined;
  private readonly discoveries: HomeAssistantDiscovery[] = [];
  private readonly cleaners: CentralStatesCleaner[] = [];
  private healthState: HealthStatePublisher | undefined;
  private storeFaultRetry: NodeJS.Timeout | undefined;
  private walWatch: NodeJS.Timeout | undefined;
  /** The outbox's WAL has outgrown its checkpoints (Outbox.wal), as last looked at: logged once each way. */
  private walStuck = false;
  /** A fault report is being stored (by the retry, or after a frame's store succeeded first). */
  private storeFaultReporting = false;
  /** The fault under way, kept across a restart until central has its report (live runs only). */
  private storeFaultMark: StoreFaultMark | undefined;

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
    const backlog = backlogLimitWithinHeap(settings.backlogLimit, settings.outputs.length, options.heapLimitBytes ?? v8.getHeapStatistics().heap_size_limit);
    if (backlog.warning !== undefined) this.logger.warn({ backlogLimit: settings.backlogLimit, effectiveLimit: backlog.limit }, backlog.warning);
    this.recorder = new Recorder({
      outbox: this.outbox,
      counters: this.counters,
      logger: this.logger.child({ component: 'recorder' }),
      backlogLimit: backlog.limit,
      // A local output that is down sheds its own oldest events; only central backlogs make the inputs NAK.
      backlogOutputs: this.outputs.filter((o) => o.audience === 'central').map((o) => o.name),
      bus: this.bus,
      ...(this.options.answersSent === undefined ? {} : { answersSent: this.options.answersSent }),
      clock,
      onStoreFault: (fault, state) => this.storeFaultChanged(fault, state),
    });
    this.bus.onOutputStateChanged(this, (change) => this.recordOutputState(change));
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
            clock: this.options.clock,
            allowedOrigins: api.allowedOrigins,
            maxBodyBytes: api.maxBodyBytes,
            limits: {
              maxConnections: api.maxConnections,
              maxConnectionsPerPeer: api.maxConnectionsPerPeer,
              headersTimeoutMs: api.headersTimeout,
              requestTimeoutMs: api.requestTimeout,
            },
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


  /** The configured inputs (their frame handlers are what `replay` drives). */
  get inputs(): readonly Input[] {
    return this.createdInputs;
  }

  /** SIGHUP: new sites take effect for the next frame; connections stay open. What changed is chained and told to central. */
  reloadSites(sites: readonly Site[]): void {
    this.sites = sites;
    this.assurance?.assurance.sitesReloaded();
    for (const discovery of this.discoveries) void discovery.publish();
    this.logger.info({ sites: sites.length }, 'sites reloaded');
  }

  /** Each output's name, kind and health, from memory (no outbox read). */
  private outputStates() {
    return this.outputs.map((o) => {
      const readFailure = this.dispatcher.readFailure(o.name);
      // An output the outbox cannot be read for receives nothing, however well its own link is.
      const state = readFailure === undefined ? o.health() : { state: 'down' as const, detail: readFailure };
      return { name: o.name, kind: o.kind, ...state };
    });
  }

  private inputStates() {
    return this.inputs.map((i) => ({ name: i.name, ...i.health() }));
  }

  /**
   * What /healthz tells a caller without a token, from memory alone: anybody may ask it as often as they like, and
   * the outbox's counts (dead letters above all) cost milliseconds each.
   */
  publicHealth(): PublicHealth {
    return publicHealth(this.inputStates(), this.outputStates().map((health, i) => ({ ...health, audience: this.outputs[i]!.audience })));
  }

  health(): ReturnType<HealthSource['health']> {
    const now = this.options.clock.now();
    const outputs = this.outputStates().map((o) => {
      const oldest = this.outbox.oldestPendingAt(o.name);
      return { ...o, backlog: this.outbox.backlog(o.name), deadLetters: this.outbox.deadLetterCount(o.name), oldestPendingAgeMs: oldest === null ? null : now - oldest };
    });
    const inputs = this.inputStates();
    const assurance = this.assurance?.health();
    const storage = this.outbox.storage();
    const storeFault = this.recorder.storeFault();
    const wal = this.outbox.wal();
    // Nothing the panels send can be stored, so none of it is ACKed: every link is as good as down. Not public: the
    // first store in a while that finds the disk full may be a duress's. A WAL that cannot be checkpointed is on
    // its way to filling that disk.
    const degraded = storeFault !== undefined || wal.stuck || [...outputs, ...inputs].some((x) => x.state !== 'up') || assurance?.state === 'degraded';
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
          ...(storeFault !== undefined
            ? { state: 'down', detail: `cannot store since ${new Date(storeFault.since).toISOString()} (${storeFault.cause}); ${storeFault.refusedFrames} frames NAKed` }
            : wal.stuck
              ? { state: 'degraded', detail: WAL_STUCK_DETAIL }
              : { state: 'up' }),
          entries: storage.entries,
          walBytes: wal.bytes,
          oldestStoredAt: storage.oldestStoredAt === null ? null : new Date(storage.oldestStoredAt).toISOString(),
          retention: { deliveredMs: this.options.settings.retention, deadLettersMs: this.options.settings.deadLetterRetention },
        },
        ...(assurance === undefined ? {} : { assurance }),
      },
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.storeFaultRetry);
    clearInterval(this.walWatch);
    for (const input of [...this.inputs].reverse()) await input.stop();
    if (this.consoleFeed !== undefined) {
      this.bus.removeListeners(this.consoleFeed);
      this.consoleFeed.stop();
    }
    await this.api?.stop();
    await this.assurance?.stop();
    this.audit?.close();
    for (const discovery of this.discoveries) await discovery.stop();
    for (const cleaner of this.cleaners) await cleaner.stop();
    await this.healthState?.stop();
    await this.dispatcher.stop();
    for (const output of this.outputs) await output.stop();
    const fault = this.recorder.storeFault();
    // With the frames refused until now, for the next start to report.
    if (fault !== undefined) this.storeFaultMark?.setFault(fault);
    this.storeFaultMark?.close();
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
    this.walWatch = setInterval(() => this.watchWal(), WAL_WATCH_MS).unref();
    for (const { output, undelivered, handedTo } of this.dispatcher.start()) {
      this.counters.inc('retired_output_events_total', { output, outcome: handedTo.length > 0 ? 'handed_over' : 'dead_letter' }, undelivered);
    }
    // Live runs only: a replay must not mark devices tested, open incidents or write audit records from old captures.
    if (this.options.listen !== false) {
      const { mark, earlier } = StoreFaultMark.open(settings.dataDir, this.logger);
      this.storeFaultMark = mark;
      // A fault the last run could not report: reported now, or carried on by the fault still under way.
      if (earlier.fault !== undefined) this.reportStoreFault(earlier.fault);
      if (earlier.events.length > 0) this.logger.warn({ events: earlier.events.length }, 'raised events the last run could not store are stored now');
      const audit = this.openAuditLog();
      const assurance = wireAssurance(this, settings, {
        clock: this.options.clock,
        logger: this.logger.child({ component: 'assurance' }),
        audit: (entry) => audit.append(entry),
        unstored: { carried: earlier.events, onUnstoredChanged: (events) => mark.setEvents(events) },
      });
      this.assurance = assurance;
      // After the assurance: a creation's event for central is stored again at each check, as a control action's is.
      this.tokens?.chainCreations(
        (entry) => {
          audit.append(entry);
          return this.reportTokenCreated(assurance, entry);
        },
        (fingerprint) => audit.hasChainedToken(fingerprint),
      );
      this.reportAuditDamage(assurance, audit);
      await this.startMqttStates();
    }
    if (this.api !== undefined) {
      registerHealthRoutes(this.api, {
        gateway: this,
        metrics: this.metrics,
        deadLetters: (output, page) => this.outbox.deadLetters(output, page),
        deadLetterCount: (output) => this.outbox.deadLetterCount(output),
        outputs: this.outputs.map((o) => o.name),
      });
      if (this.tokens !== undefined) registerTokenRoutes(this.api, this.tokens);
      if (this.assurance !== undefined && this.tokens !== undefined) this.startConsole(this.api, this.assurance, this.tokens);
      await this.api.start().catch((error: unknown) => {
        throw listenFailure(error, `API on ${settings.api!.host}:${settings.api!.port}`, { host: 'api.host', port: 'api.port' });
      });
    }
    const issues: SettingsIssue[] = [];
    // An encrypted answer's pad: one system call per pool of random bytes, not one per answer.
    const random = this.options.random ?? pooledRandomBytes();
    for (const [index, configured] of settings.inputs.entries()) {
      const created = await createInput(configured, {
        index,
        clock: this.options.clock,
        random,
        ...(this.options.answersSent === undefined ? {} : { answersSent: this.options.answersSent }),
        recorder: this.recorder,
        builder: this.builder,
        counters: this.counters,
        logger: this.logger,
        bus: this.bus,
        metrics: this.metrics,
        defaults: { timestampWindow: settings.timestampWindow },
        ...this.captureHook(configured.name),
      });
      if (!created.ok) {
        issues.push(...created.issues);
        continue;
      }
      this.createdInputs.push(created.input);
      if (this.options.listen === false) continue;
      await created.input.start().catch((error: unknown) => {
        if (!('port' in configured)) throw error;
        const keys = { host: `inputs[${index}].host`, port: `inputs[${index}].port` };
        throw listenFailure(error, `${describeInput(configured)} on ${configured.host}:${configured.port}`, keys);
      });
    }
    return issues;
  }

  /** The duress console at `/`: fed by every stored and delivered event; signs in with the API's tokens. */
  private startConsole(api: ApiServer, assurance: AssuranceWiring, tokens: TokenRegistry): void {
    const clock = this.options.clock;
    const feed = new ConsoleFeed(() => clock.now());
    this.consoleFeed = feed;
    this.bus.onFrameStored(feed, (events) => feed.stored(events));
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
    // Once each way, as the assurance ledger's (WriteFaults).
    audit.onWriteError((error) => this.logger.error({ cause: error.message }, `audit records cannot be written (${error.message}); retrying every second`));
    audit.onWriteRecovered((failedForMs) => this.logger.warn({ failedForMs: Math.round(failedForMs) }, 'audit records written again'));
    this.audit = audit;
    return audit;
  }

  /**
   * Retained `{prefix}/health` on central MQTT outputs, central-only states cleared from local ones and from the
   * prefixes outputs used in earlier runs, and Home Assistant discovery where it is asked for.
   */
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
    const cleanerLogger = this.logger.child({ component: 'mqtt-retained' });
    for (const { output } of mqtt) {
      if (output.audience !== 'local') continue;
      const cleaner = CentralStatesCleaner.forLocal(output, cleanerLogger);
      await cleaner.start();
      this.cleaners.push(cleaner);
    }
    const prefixes = MqttPrefixHistory.open(this.options.settings.dataDir, this.logger);
    const inUse = mqtt.map(({ output }) => output.topicPrefix);
    for (const { output } of mqtt) {
      for (const former of prefixes.arrive(output.name, output.topicPrefix, inUse)) {
        const cleaner = CentralStatesCleaner.forFormerPrefix(output, cleanerLogger, former, () => prefixes.cleared(output.name, former));
        // Not awaited: each clearing waits a second for the retained states to arrive, and start need not.
        void cleaner.start();
        this.cleaners.push(cleaner);
      }
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

  /**
   * `run --capture`: every raw frame as a capture line, stamped `at` (the frame's receivedAt) or now. A failed write
   * (disk full) is counted and logged at most once a minute, and the frame is stored and answered all the same.
   */
  private captureHook(input: string): { onFrame?: CaptureFrame; onDiscard?: CaptureDiscard } {
    const capture = this.options.capture;
    if (capture === undefined) return {};
    const failures = new RateLimitedLog({ logger: this.logger, clock: this.options.clock, windowMs: 60_000 });
    const append = (line: string) => {
      const error = capture.append(line);
      if (error === undefined) return;
      this.counters.inc('capture_write_failures_total', { input });
      failures.error('capture-write-failed', undefined, { input, file: capture.file, err: error.message }, 'frame not captured: cannot write the --capture file; it is stored and answered all the same');
    };
    // Discards are what a flood is made of: a few records a minute per sender, the rest counted.
    const budget = new DiscardCaptureBudget();
    return {
      onFrame: (frame, transport, peer = '', at = this.options.clock.now()) => append(captureLine(frame, at, input, transport, peer)),
      onDiscard: (sample, note, transport, peer = '') => {
        const now = this.options.clock.now();
        if (budget.take(peer, now)) append(captureLine(sample, now, input, transport, peer, note));
        else this.counters.inc('capture_discards_skipped_total', { input }, note.count);
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
        return new MqttOutput(options, {
          clock,
          logger: this.logger,
          gateway: { id: this.id, version: this.version },
          // Kept in dataDir so subscribers set up once keep working across restarts.
          embeddedSubscriberPassword: () => ensurePrivateSecret(path.join(this.options.settings.dataDir, EMBEDDED_BROKER_PASSWORD_FILE), () => randomBytes(32).toString('base64url')),
        });
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
          reportLinkState: (report) => this.bus.emitOutputStateChanged({ output: output.name, account: output.account, ...report }),
          counters: this.counters,
        });
      }
      case 'automation': {
        const { type: _type, ...options } = output;
        return new AutomationOutput(options, {
          clock,
          logger: this.logger,
          reportLinkState: (report) => this.bus.emitOutputStateChanged({ output: output.name, account: options.account ?? null, ...report }),
        });
      }
    }
  }

  /**
   * The outbox failed to store, or stores again. Central hears of the fault once it is over (nothing could be
   * stored meanwhile): when it began and when it ended, in one append. Until then that report is tried again and
   * again, so a quiet site's gateway finds out the disk has room without waiting for a panel's frame.
   */
  private storeFaultChanged(fault: StoreFault, state: 'failing' | 'recovered'): void {
    if (state === 'failing') {
      this.storeFaultMark?.setFault(fault);
      clearInterval(this.storeFaultRetry);
      this.storeFaultRetry = setInterval(() => {
        // The frames refused since: what a restart now would report.
        this.storeFaultMark?.setFault(fault);
        this.reportStoreFault(fault);
      }, STORE_FAULT_RETRY_MS).unref();
      return;
    }
    clearInterval(this.storeFaultRetry);
    this.storeFaultRetry = undefined;
    // A retry in flight is what just succeeded, or is in the same commit: it carries the report.
    if (!this.storeFaultReporting) this.reportStoreFault(fault);
  }

  private reportStoreFault(fault: StoreFault): void {
    if (this.storeFaultReporting) return;
    this.storeFaultReporting = true;
    void this.recorder.recordRaised(storeFaultEvents(fault, this.options.clock.now(), this.builder)).then((outcome) => {
      this.storeFaultReporting = false;
      if (outcome.ok) {
        this.storeFaultMark?.setFault(undefined);
        return;
      }
      // Not stored: the fault this failure began reports this one too, or, when the store works again, it goes now.
      const current = this.recorder.storeFault();
      if (current !== undefined && this.recorder.carryOver(fault)) this.storeFaultMark?.setFault(current);
      else this.reportStoreFault(fault);
    });
  }

  /** Logs the outbox's WAL outgrowing its checkpoints, and its being checkpointed again, once each. */
  private watchWal(): void {
    const { bytes, stuck } = this.outbox.wal();
    if (stuck === this.walStuck) return;
    this.walStuck = stuck;
    const mib = Math.round(bytes / 1024 / 1024);
    if (stuck) this.logger.warn({ walBytes: bytes }, `outbox WAL is ${mib} MiB: ${WAL_STUCK_DETAIL}`);
    else this.logger.info({ walBytes: bytes }, 'outbox WAL checkpointed again');
  }

  /**
   * What the start found wrong with the audit log (a break in its chain, records cut off its end against its head)
   * is told to central: whoever can write dataDir can edit the log, and a log line alone tells nobody off site.
   */
  private reportAuditDamage(assurance: AssuranceWiring, audit: AuditLog): void {
    const { broken, cutOff } = audit;
    const reasons = [
      ...(broken === undefined
        ? []
        : [`the audit log chain is broken at record ${broken.seq ?? '(unreadable)'}${broken.line === null ? '' : `, line ${broken.line}`}: ${broken.reason}; new records continue after it (panelbridge audit verify names it)`]),
      ...(cutOff === undefined ? [] : [cutOff.reason]),
    ];
    if (reasons.length === 0) return;
    if (cutOff !== undefined) this.logger.error({ recordedSeq: cutOff.recordedSeq, foundSeq: cutOff.foundSeq }, cutOff.reason);
    void this.tellCentral(assurance, reasons);
  }

  /**
   * A token creation just chained (POST /tokens, or a token the gateway found in a file in dataDir) is told to
   * central too: a token minted by a rogue admin, or written into api-tokens.json by whoever can write dataDir,
   * acknowledges incidents under a name central would otherwise first read in the acknowledgement.
   */
  private reportTokenCreated(assurance: AssuranceWiring, entry: AuditEntry): ControlStored {
    const { name, role, foundIn, fingerprint } = entry.details as { name: string; role: string; foundIn?: string; fingerprint: string };
    const { actor } = entry;
    const how = foundIn === undefined ? `created by ${actor.name} (${actor.role}, ${actor.channel})` : `found in ${foundIn} and accepted from now on`;
    return this.tellCentral(assurance, [`API token ${JSON.stringify(name)} (${role}) ${how}; fingerprint ${fingerprint}`]);
  }

  /** Stores a report for central, again at each check while the outbox refuses it; resolves once it is stored. */
  private tellCentral(assurance: AssuranceWiring, reasons: string[]): ControlStored {
    return assurance.assurance.reportToCentral(auditReportEvent(reasons, this.options.clock.now(), this.builder));
  }

  /** An output's link to a monitoring centre went down or came back: a covert `supervisory` event, stored like any other. */
  private recordOutputState(change: OutputStateChange): void {
    const event = outputLinkEvent(change, this.options.clock.now(), this.builder);
    void this.recorder.recordRaised([event]).then((recorded) => {
      if (!recorded.ok) this.logger.error({ output: change.output, err: recorded.error.message }, 'output link state event not stored');
    });
  }
}

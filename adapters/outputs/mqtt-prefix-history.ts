import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorText } from '../../src/errors.js';
import type { Logger } from '../../src/ports.js';
import { holdsTopicsOf } from '../../src/settings/settings.js';
import { writePrivateFile } from '../system/files.js';

/** In dataDir: each MQTT output's topicPrefix of the last run, and the former ones whose retained states are not cleared yet. */
export const MQTT_PREFIXES_FILE = 'mqtt-prefixes.json';

/** Former prefixes kept per output while their clearing waits (a broker down across several renames). */
const MAX_FORMER_PREFIXES = 16;

interface OutputPrefixes {
  topicPrefix: string;
  /** Prefixes the output used before, whose retained central states are still to be cleared. */
  formerPrefixes: string[];
}

/**
 * The topicPrefix each MQTT output (by name) had in earlier runs, kept in `{dataDir}/mqtt-prefixes.json`: a renamed
 * prefix leaves retained states under the former one that only the gateway knows it wrote. A former prefix is kept
 * until its states are cleared (CentralStatesCleaner.forFormerPrefix), across restarts. A file that cannot be read is
 * logged and taken as empty (nothing to clear); one that cannot be written is logged, and the gateway runs on.
 */
export class MqttPrefixHistory {
  private constructor(
    private readonly file: string,
    private readonly outputs: Record<string, OutputPrefixes>,
    private readonly logger: Logger,
  ) {}

  static open(dataDir: string, logger: Logger): MqttPrefixHistory {
    const file = path.join(dataDir, MQTT_PREFIXES_FILE);
    return new MqttPrefixHistory(file, readOutputs(file, logger), logger);
  }

  /**
   * Records `topicPrefix` as the output's, and returns its former prefixes whose states are still to clear, but those
   * whose topics hold a prefix in `inUse` (the MQTT outputs' now): clearing there would clear live states.
   */
  arrive(output: string, topicPrefix: string, inUse: readonly string[]): string[] {
    const known = this.outputs[output];
    const former = new Set(known?.formerPrefixes ?? []);
    if (known !== undefined && known.topicPrefix !== topicPrefix) former.add(known.topicPrefix);
    former.delete(topicPrefix);
    const formerPrefixes = [...former].slice(-MAX_FORMER_PREFIXES);
    this.outputs[output] = { topicPrefix, formerPrefixes };
    if (known?.topicPrefix !== topicPrefix || known.formerPrefixes.length !== formerPrefixes.length) this.save();
    return formerPrefixes.filter((prefix) => !inUse.some((current) => holdsTopicsOf(prefix, current)));
  }

  /** The states under `prefix` are cleared: it is forgotten. */
  cleared(output: string, prefix: string): void {
    const known = this.outputs[output];
    if (known === undefined || !known.formerPrefixes.includes(prefix)) return;
    known.formerPrefixes = known.formerPrefixes.filter((former) => former !== prefix);
    this.save();
  }

  private save(): void {
    try {
      writePrivateFile(this.file, JSON.stringify({ outputs: this.outputs }, null, 2) + '\n');
    } catch (error) {
      this.logger.warn({ file: this.file, err: errorText(error) }, 'MQTT topic prefixes not recorded: a later change of topicPrefix will not clear the states left under this one');
    }
  }
}

function readOutputs(file: string, logger: Logger): Record<string, OutputPrefixes> {
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { outputs?: unknown };
    const outputs: Record<string, OutputPrefixes> = {};
    if (typeof parsed.outputs !== 'object' || parsed.outputs === null) throw new Error('no "outputs" object');
    for (const [name, entry] of Object.entries(parsed.outputs as Record<string, unknown>)) {
      const { topicPrefix, formerPrefixes } = (entry ?? {}) as Partial<Record<keyof OutputPrefixes, unknown>>;
      if (typeof topicPrefix !== 'string') continue;
      outputs[name] = { topicPrefix, formerPrefixes: Array.isArray(formerPrefixes) ? formerPrefixes.filter((p): p is string => typeof p === 'string') : [] };
    }
    return outputs;
  } catch (error) {
    logger.warn({ file, err: errorText(error) }, 'MQTT topic prefixes of earlier runs unreadable; ignored (states a renamed prefix left are not cleared)');
    return {};
  }
}

import { execFileSync } from 'node:child_process';

/**
 * Renders Home Assistant `value_template`s with Jinja2 itself (Python's, which Home Assistant runs), in a sandbox,
 * with `value`, `value_json` and the `to_json` filter as Home Assistant provides them. Undefined names fail, so a
 * template that reads a field an event lacks is caught here rather than logged by Home Assistant.
 */
const RENDER = `
import json, sys
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
env.filters['to_json'] = json.dumps
out = []
for job in json.load(sys.stdin):
    out.append(env.from_string(job['template']).render(value=job['payload'], value_json=json.loads(job['payload'])))
json.dump(out, sys.stdout)
`;

/** The first Python that has Jinja2: the one on PATH (a pyenv, a venv), else Debian's (`apt-get install python3-jinja2`). */
const PYTHONS = ['python3', '/usr/bin/python3'];

export function renderTemplates(jobs: ReadonlyArray<{ template: string; payload: string }>): string[] {
  const failures: string[] = [];
  for (const python of PYTHONS) {
    try {
      return JSON.parse(execFileSync(python, ['-c', RENDER], { input: JSON.stringify(jobs), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })) as string[];
    } catch (error) {
      failures.push(`${python}: ${(error as Error).message.split('\n').slice(-2).join(' ')}`);
    }
  }
  throw new Error(`rendering Home Assistant templates needs python3 with jinja2 (.ci/run installs python3-jinja2): ${failures.join('; ')}`);
}

/**
 * What an MQTT event entity makes of a message on its state topic (homeassistant/components/mqtt/event.py): an
 * empty rendering is ignored, otherwise it is a JSON object whose `event_type` must be one of `event_types`; the
 * other keys become the event's attributes. Undefined when the entity ignores the message.
 */
export function eventEntityReading(rendered: string, eventTypes: readonly string[]): Record<string, unknown> | undefined {
  if (rendered.trim() === '' || rendered === 'None') return undefined;
  const reading = JSON.parse(rendered) as Record<string, unknown>;
  if (!eventTypes.includes(String(reading['event_type']))) throw new Error(`event type ${String(reading['event_type'])} is not one the entity announced`);
  return reading;
}

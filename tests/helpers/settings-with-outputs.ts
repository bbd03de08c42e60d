import { parseSettings, type Settings } from '../../src/settings/settings.js';

/** Settings of one allowlisted DC-09 input and the `outputs` given as YAML list items, as a config file holds them. */
export function parseWithOutputs(outputs: string): ReturnType<typeof parseSettings> {
  return parseSettings(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]
outputs:
${outputs}
`);
}

/** The same, which must parse. */
export function settingsWithOutputs(outputs: string): Settings {
  const parsed = parseWithOutputs(outputs);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.settings;
}

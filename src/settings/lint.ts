import { isLoopbackHost, refusesUncertifiedClients, type Dc09OutputSettings, type Settings } from './settings.js';
import { decodeKey } from './keys.js';
import { DURESS_ZONE_TYPES, MAX_SCHEDULED_TEST_SHARE, scheduledTestShare, type Site } from './sites.js';

export interface LintFinding {
  severity: 'error' | 'warning';
  path: string;
  message: string;
}

/** Every secret file the configuration names, with its path in the configuration. */
export function secretFiles(settings: Settings): Array<{ path: string; file: string }> {
  const files: Array<{ path: string; file: string }> = [];
  const add = (path: string, file: string | undefined) => {
    if (file !== undefined) files.push({ path, file });
  };
  settings.api?.tokens?.forEach((t, i) => add(`api.tokens[${i}].tokenFile`, t.tokenFile));
  settings.inputs.forEach((input, i) => {
    if (input.type === 'access-xml') add(`inputs[${i}].secretFile`, input.secretFile);
  });
  settings.outputs.forEach((output, i) => {
    if (output.type === 'mqtt') add(`outputs[${i}].passwordFile`, output.passwordFile);
    if (output.type === 'webhook') add(`outputs[${i}].secretFile`, output.secretFile);
  });
  for (const { path, files: tls } of tlsSettings(settings)) add(`${path}.key`, tls.key);
  for (const { path, setting } of aesKeySettings(settings)) add(`${path}.keyFile`, setting.keyFile);
  return files;
}

/** The files of one TLS setting: a PEM certificate (chain), its private key, the CA certificates it trusts. */
export interface TlsFiles {
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
}

/** Every TLS setting, with the path its cert, key and ca sit under: the API's, the access-xml inputs', the MQTT outputs'. */
export function tlsSettings(settings: Settings): Array<{ path: string; files: TlsFiles }> {
  const found: Array<{ path: string; files: TlsFiles }> = [];
  if (settings.api?.tls !== undefined) found.push({ path: 'api.tls', files: settings.api.tls });
  settings.inputs.forEach((input, i) => {
    if (input.type === 'access-xml' && input.tls !== undefined) found.push({ path: `inputs[${i}].tls`, files: input.tls });
  });
  settings.outputs.forEach((output, i) => {
    if (output.type === 'mqtt') found.push({ path: `outputs[${i}]`, files: output });
  });
  return found;
}

/** Where an AES key comes from (one of key, keyFile, keyEnv) and how its text is encoded. */
export type AesKeySetting = Pick<Dc09OutputSettings, 'key' | 'keyFile' | 'keyEnv' | 'keyEncoding'>;

/**
 * Every setting that carries an AES key, with its path in the configuration: the DC-09 inputs' accounts and the
 * DC-09 outputs. `check` reads each keyFile and keyEnv at these paths; lintSettings decodes every key.
 */
export function aesKeySettings(settings: Settings): Array<{ path: string; setting: AesKeySetting }> {
  const keyed: Array<{ path: string; setting: AesKeySetting }> = [];
  settings.inputs.forEach((input, i) => {
    if (input.type === 'dc09') input.accounts?.forEach((setting, j) => keyed.push({ path: `inputs[${i}].accounts[${j}]`, setting }));
  });
  settings.outputs.forEach((setting, i) => {
    if (setting.type === 'dc09') keyed.push({ path: `outputs[${i}]`, setting });
  });
  return keyed;
}

/** The URL when it carries `user:password@`, else undefined. */
function withCredentials(url: string): URL | undefined {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** How a webhook's or an MQTT broker's URL scheme carries the events (MQTT.js's names for the broker's schemes). */
const SCHEMES: Readonly<Record<'webhook' | 'mqtt', Readonly<Record<string, 'plain' | 'tls'>>>> = {
  webhook: { 'http:': 'plain', 'https:': 'tls' },
  mqtt: { 'mqtt:': 'plain', 'tcp:': 'plain', 'ws:': 'plain', 'mqtts:': 'tls', 'tls:': 'tls', 'ssl:': 'tls', 'wss:': 'tls' },
};

/**
 * How a central webhook or MQTT output's events cross the network to another host, plain or over TLS; undefined
 * when they do not (loopback, the embedded broker, a unix socket) or the output is not one of those or is local.
 * On a plain link, whoever is on the path reads each duress and can answer 2xx or PUBACK in the endpoint's place,
 * so a duress that never arrived counts as delivered; over TLS only while certificates are checked.
 */
function linkToCentre(output: Settings['outputs'][number]): 'plain' | 'tls' | undefined {
  if (output.audience !== 'central' || (output.type !== 'webhook' && output.type !== 'mqtt')) return undefined;
  let url: URL;
  try {
    url = new URL(output.url);
  } catch {
    return undefined; // `embedded`
  }
  return isLoopbackHost(url.hostname) ? undefined : SCHEMES[output.type][url.protocol];
}

/** Who can reach the API and the access input, and where secrets sit. */
function lintExposure(settings: Settings, worldReadableFiles: ReadonlySet<string>, certificateChecksOff: boolean, findings: LintFinding[]): void {
  settings.inputs.forEach((input, i) => {
    if (input.type === 'sia-ip' && !isLoopbackHost(input.host) && input.allowFrom === undefined)
      findings.push({
        severity: 'warning',
        path: `inputs[${i}].host`,
        message: `sia-ip input listens on ${input.host} without allowFrom: SIA over IP has no authentication, so anyone who reaches the port can send events (a false alarm, a flood of them) and hold its connections; set allowFrom to the panels' addresses or ranges`,
      });
    if (input.type !== 'access-xml' || isLoopbackHost(input.host)) return;
    if (input.secret === undefined && input.secretFile === undefined && !refusesUncertifiedClients(input.tls))
      findings.push({
        severity: 'error',
        path: `inputs[${i}].host`,
        message: `access-xml input listens on ${input.host} without secret, secretFile or tls.requestCert (with rejectUnauthorized left true): anyone on the network can post events`,
      });
  });
  settings.outputs.forEach((output, i) => {
    if (output.type === 'mqtt' && withCredentials(output.url) !== undefined)
      findings.push({ severity: 'warning', path: `outputs[${i}].url`, message: 'credentials inside the URL: use username with passwordFile' });
    // With the content hidden, a duress still shows by its length (README "What an observer of the links to central sees").
    const keyedDc09 = output.type === 'dc09' && output.audience === 'central' && (output.key ?? output.keyFile ?? output.keyEnv) !== undefined;
    if ('pad' in output && output.pad === 0 && (keyedDc09 || linkToCentre(output) === 'tls'))
      findings.push({
        severity: 'warning',
        path: `outputs[${i}].pad`,
        message: 'pad: 0 on an encrypted link to central: an observer of the link tells a duress from an ordinary alarm by its size; leave pad out (the default pads) or set it above your largest event',
      });
    if (linkToCentre(output) === 'plain')
      findings.push({
        severity: 'warning',
        path: `outputs[${i}].url`,
        message: `plain link to a central output: events, duress included, cross the network readable, and anyone on the path can answer in the endpoint's place (a duress counted delivered that never arrived): use ${output.type === 'webhook' ? 'https' : 'mqtts'}`,
      });
  });
  settings.api?.tokens?.forEach((t, i) => {
    if (t.token !== undefined)
      findings.push({ severity: 'warning', path: `api.tokens[${i}].token`, message: `token "${t.name}" is inline in the configuration: use tokenFile or tokenEnv` });
  });
  for (const { path, file } of secretFiles(settings))
    if (worldReadableFiles.has(file)) findings.push({ severity: 'warning', path, message: `${file} is readable by every user: chmod 600 it` });
  const overTls = settings.outputs.flatMap((output, i) => (linkToCentre(output) === 'tls' ? [`outputs[${i}]`] : []));
  if (certificateChecksOff && overTls.length > 0)
    findings.push({
      severity: 'warning',
      path: '(environment)',
      message: `NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off, so the TLS links of ${overTls.join(', ')} are as open as plain ones (anyone on the path can answer in the endpoint's place): unset it; a centre's private CA goes in NODE_EXTRA_CA_CERTS (or an MQTT output's ca)`,
    });
}

/**
 * Problems a valid configuration can still have. `fileIsWorldReadable` and `worldReadableFiles` (among
 * `secretFiles`) are read by the caller (I/O stays out). `resolvedKeys` holds the text of keys loaded from files
 * or the environment, by their `aesKeySettings` path, and is checked here too.
 */
export function lintSettings(
  settings: Settings,
  context: {
    fileIsWorldReadable: boolean;
    resolvedKeys?: ReadonlyMap<string, string>;
    worldReadableFiles?: ReadonlySet<string>;
    /** NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment `run` gets. */
    certificateChecksOff?: boolean;
  },
): LintFinding[] {
  const findings: LintFinding[] = [];
  lintExposure(settings, context.worldReadableFiles ?? new Set(), context.certificateChecksOff ?? false, findings);
  if (!settings.outputs.some((o) => o.audience === 'central'))
    findings.push({
      severity: 'error',
      path: 'outputs',
      message: 'no output has audience central, so no duress or hold-up reaches anyone: add one for the monitoring centre or the responders (central is the default audience)',
    });

  settings.inputs.forEach((input, i) => {
    if (input.type !== 'dc09') return;
    if (input.accounts === undefined)
      findings.push({ severity: 'warning', path: `inputs[${i}].accounts`, message: 'no account allowlist: every unencrypted account is accepted' });
  });
  for (const { path, setting } of aesKeySettings(settings)) {
    const keyText = setting.key ?? context.resolvedKeys?.get(path);
    if (keyText !== undefined && setting.keyEncoding !== undefined) {
      const key = decodeKey(keyText, setting.keyEncoding);
      if (!key.ok) findings.push({ severity: 'error', path: `${path}.key`, message: key.message });
    }
    if (setting.key !== undefined && context.fileIsWorldReadable)
      findings.push({ severity: 'warning', path: `${path}.key`, message: 'AES key inline in a world-readable file: use keyFile or keyEnv, or chmod 600 the config' });
  }
  settings.outputs.forEach((output, i) => {
    const inlineSecret = output.type === 'webhook' ? output.secret : output.type === 'mqtt' ? output.password : undefined;
    if (inlineSecret !== undefined && context.fileIsWorldReadable)
      findings.push({ severity: 'warning', path: `outputs[${i}]`, message: 'secret inline in a world-readable file: use secretFile/passwordFile' });
    // A webhook endpoint behind basic auth has no other place for its credentials: they go as `authorization: Basic`.
    const basicAuth = output.type === 'webhook' ? withCredentials(output.url) : undefined;
    if (basicAuth?.protocol === 'http:' && !isLoopbackHost(basicAuth.hostname))
      findings.push({ severity: 'warning', path: `outputs[${i}].url`, message: 'credentials inside the URL go as basic auth over plain http, readable on the network: use https' });
    if (basicAuth !== undefined && context.fileIsWorldReadable)
      findings.push({ severity: 'warning', path: `outputs[${i}].url`, message: 'basic-auth password inside the URL in a world-readable file: chmod 600 the config' });
    if (output.type === 'dc09' || output.type === 'automation') findings.push(...lintForwardingOutput(output, `outputs[${i}]`));
    if (output.type === 'mqtt' && output.protocolVersion === 4 && output.url !== 'embedded')
      findings.push({
        severity: 'warning',
        path: `outputs[${i}].protocolVersion`,
        message: 'with MQTT 3.1.1 the broker acknowledges a publish its ACL dropped, so such an event counts as delivered: use 5 unless the broker lacks it',
      });
  });

  const carried = carriedAccounts(settings);
  const siteOfAccount = new Map<string, string>();
  settings.sites.forEach((site, i) => {
    site.accounts.forEach((account, j) => {
      const other = siteOfAccount.get(account.toUpperCase());
      if (other !== undefined)
        findings.push({ severity: 'error', path: `sites[${i}].accounts[${j}]`, message: `account ${account} also belongs to site ${other}` });
      siteOfAccount.set(account.toUpperCase(), site.id);
    });
    let duressDevices = 0;
    site.zones?.forEach((zone, j) => {
      if (!DURESS_ZONE_TYPES.has(zone.type)) return;
      duressDevices++;
      if (zone.testEvery === undefined)
        findings.push({ severity: 'warning', path: `sites[${i}].zones[${j}].testEvery`, message: `${zone.type} zone ${zone.number} has no test schedule` });
    });
    site.users?.forEach((user, j) => {
      if (user.duress !== true) return;
      duressDevices++;
      if (user.testEvery === undefined)
        findings.push({ severity: 'warning', path: `sites[${i}].users[${j}].testEvery`, message: `duress user ${user.number} has no test schedule` });
    });
    site.doors?.forEach((door, j) => {
      if (door.duress !== true) return;
      duressDevices++;
      if (door.testEvery === undefined)
        findings.push({ severity: 'warning', path: `sites[${i}].doors[${j}].testEvery`, message: `duress door ${door.id} has no test schedule` });
    });
    const testShare = site.testSchedule === undefined ? 0 : scheduledTestShare(site.testSchedule);
    if (testShare > MAX_SCHEDULED_TEST_SHARE)
      findings.push({
        severity: 'warning',
        path: `sites[${i}].testSchedule`,
        message: `its test windows cover ${(testShare * 100).toFixed(1)}% of the week (${(testShare * 7 * 24).toFixed(1)} h, more than ${MAX_SCHEDULED_TEST_SHARE * 100}%): a hold-up or duress in a test window is a test and opens no incident; shorten the window or test on fewer days`,
      });
    if (carried !== undefined) findings.push(...lintSiteAccounts(site, `sites[${i}]`, carried, duressDevices > 0));
  });
  return findings;
}

interface CarriedAccounts {
  /** Upper case: accounts compare case-insensitively. */
  accounts: ReadonlySet<string>;
  sitesNamed(site: string): boolean;
}

/**
 * The accounts the inputs can deliver events for (upper case) and whether an access-xml input names a site itself;
 * undefined when some input takes any account: a DC-09 input without an allowlist, a serial line (a receiver's
 * automation port passes on every panel's account), an access-xml mapping that reads the account from the document.
 */
function carriedAccounts(settings: Settings): CarriedAccounts | undefined {
  const accounts = new Set<string>();
  const named = new Set<string>();
  let anySiteNamed = false;
  for (const input of settings.inputs) {
    switch (input.type) {
      case 'serial':
        return undefined;
      case 'dc09':
        if (input.accounts === undefined) return undefined;
        for (const { account } of input.accounts) accounts.add(account.toUpperCase());
        break;
      case 'access-xml':
        if (input.mappings.some((mapping) => mapping.account !== undefined)) return undefined;
        if (input.account !== undefined) accounts.add(input.account.toUpperCase());
        if (input.site !== undefined) named.add(input.site);
        // A mapping that reads the site from the document may name any site.
        if (input.mappings.some((mapping) => mapping.site !== undefined)) anySiteNamed = true;
    }
  }
  return { accounts, sitesNamed: (site) => anySiteNamed || named.has(site) };
}

/**
 * A site account no input accepts is most likely a typo: the panel's events then carry no site, and its hold-up
 * button is published as the plain alarm its code says.
 */
function lintSiteAccounts(site: Site, path: string, carried: CarriedAccounts, hasDuressDevices: boolean): LintFinding[] {
  // Only a panel reports zones and users, by its account; a site an access-xml input names gets its doors' events without one.
  const panelDevices = (site.zones?.length ?? 0) + (site.users?.length ?? 0) > 0;
  if (!panelDevices && carried.sitesNamed(site.id)) return [];
  const findings: LintFinding[] = [];
  site.accounts.forEach((account, j) => {
    if (carried.accounts.has(account.toUpperCase())) return;
    findings.push({
      severity: hasDuressDevices ? 'error' : 'warning',
      path: `${path}.accounts[${j}]`,
      message: `account ${account} is on no input's allowlist: if it is a typo, the panel's events carry no site${hasDuressDevices ? ' and its duress devices go unrecognised' : ''}; correct it, or add it to a DC-09 input's accounts`,
    });
  });
  return findings;
}

/** A monitoring centre's output: it must see duress, and a DC-09 one should have a key (checked with the others). */
function lintForwardingOutput(output: Extract<Settings['outputs'][number], { type: 'dc09' | 'automation' }>, path: string): LintFinding[] {
  const findings: LintFinding[] = [];
  if (output.audience === 'local')
    findings.push({ severity: 'warning', path: `${path}.audience`, message: `a ${output.type} output forwards to a monitoring centre; with audience local it never receives a duress or hold-up` });
  if (output.type === 'automation') {
    if (output.audience === 'central' && output.allowUids === undefined && output.allow.some(isLoopbackHost))
      findings.push({
        severity: 'warning',
        path: `${path}.allowUids`,
        message:
          "every account on this host can connect from loopback as the automation (before the monitoring software, or while it restarts), read each duress and ACK it away: set allowUids to the monitoring software's user id",
      });
    // Listening beyond loopback matters only if an address beyond loopback may connect: a local connection to the
    // host's own LAN address comes from that address, not from loopback.
    if (output.audience === 'central' && !isLoopbackHost(output.host) && !output.allow.every(isLoopbackHost))
      findings.push({
        severity: 'warning',
        path: `${path}.host`,
        message:
          "the Sur-Gard automation protocol has no encryption nor authentication: whoever sits on the network path, or takes an allowed address and connects first, reads every event and can ACK each duress away; keep host on loopback and run the monitoring software on this host or reach it through an encrypted tunnel (WireGuard, SSH, stunnel)",
      });
    return findings;
  }
  if (output.key === undefined && output.keyFile === undefined && output.keyEnv === undefined)
    findings.push({ severity: 'warning', path, message: 'no key: events, duress included, cross the network readable and an ACK cannot be told from a forged one' });
  return findings;
}

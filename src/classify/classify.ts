import { lookupCode } from '../catalog/index.js';
import type { Site } from '../settings/sites.js';
import { createClassifier } from './classifier.js';

export type { Classification, ClassifyContext } from './classifier.js';
export { siteContext } from './classifier.js';

/**
 * Decoded signal → category, duress label, qualifier and responder context, over the shipped code tables.
 * Never throws and always returns one classification; an unknown code is `unrecognized`, never dropped.
 */
export const classify = createClassifier(lookupCode);

/**
 * The site an account belongs to. Accounts compare case-insensitively (DC-09 accounts are hex) but exactly
 * otherwise: leading zeros are significant, because panels send them and "0123" and "123" can be two customers.
 */
export function siteForAccount(sites: readonly Site[], account: string | null): Site | undefined {
  if (account === null) return undefined;
  return accountIndex(sites).get(account.toUpperCase());
}

/**
 * Sites by upper-cased account, built once per sites list (a reload brings a new list): every frame looks its
 * account up, and a monitoring centre's configuration lists thousands. The first site listing an account wins.
 */
const accountIndexes = new WeakMap<readonly Site[], ReadonlyMap<string, Site>>();

function accountIndex(sites: readonly Site[]): ReadonlyMap<string, Site> {
  let index = accountIndexes.get(sites);
  if (index === undefined) {
    const built = new Map<string, Site>();
    for (const site of sites) for (const account of site.accounts) if (!built.has(account.toUpperCase())) built.set(account.toUpperCase(), site);
    accountIndexes.set(sites, (index = built));
  }
  return index;
}

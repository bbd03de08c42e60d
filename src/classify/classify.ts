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
  const wanted = account.toUpperCase();
  return sites.find((site) => site.accounts.some((a) => a.toUpperCase() === wanted));
}

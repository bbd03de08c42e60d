/**
 * The vendor profiles shipped in `catalog/profiles/` (one JSON file each). Kept apart from the profile loader so
 * that settings can name the valid choices without loading and validating every profile at import time.
 */
export const PROFILE_NAMES = ['generic', 'ajax', 'dsc', 'bosch', 'lupus', 'paradox'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

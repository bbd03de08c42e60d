/**
 * A DC-09 account as panels write it. The standard says 3-16 hex digits (DC09-2007 p.23), but real panels use other
 * letters too (a FOCUS FC-7688 sends `#foc7688`, pysiaalarm issue #36), and a frame refused for its account leaves
 * the panel retrying and its duress unpublished: any ASCII letter or digit, 3-16 of them. ASCII only, so that
 * upper-casing (how accounts are compared) maps one letter to one letter. Kept here, below both the settings and
 * the codecs, so that an allowlist accepts exactly the accounts the decoder reads.
 */
export const DC09_ACCOUNT = '[0-9A-Za-z]{3,16}';
export const DC09_ACCOUNT_PATTERN = new RegExp(`^${DC09_ACCOUNT}$`);
export const DC09_ACCOUNT_RULE = 'an account is 3-16 letters or digits';

import { createHash, randomBytes } from 'node:crypto';
import type { SessionSource } from '../server.js';
import type { ApiIdentity, AuthenticatedToken, TokenRegistry } from '../tokens.js';

export const SESSION_COOKIE = 'pb_console';
/** A session ends this long after sign-in, used or not (a wall screen signs in again twice a day). */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;
/** Sessions kept at once; when all are taken, a token holding none of them is refused. */
export const MAX_SESSIONS = 1_000;
/** Sessions one token name may hold; another sign-in ends that name's oldest, never someone else's. */
export const MAX_SESSIONS_PER_NAME = 32;

interface Session {
  name: string;
  /** The token signed in with: the session ends when the token is replaced or removed. */
  fingerprint: string;
  expiresAt: number;
  /** The cookie's value, hashed: the browser signed in from, whose tabs' sessions share it (a cookie is per browser). */
  browser: string;
}

/** What a sign-in hands out: the cookie (Set-Cookie) and the secret only the signed-in page holds. */
export interface SessionStart {
  setCookie: string;
  secret: string;
}

/**
 * Cookies of SESSION_COOKIE's name a Cookie header is searched through: as many as a browser keeps for one host
 * (Chrome and Firefox: 180), the last ones, where the browser puts the gateway's (path `/`, the shortest).
 */
export const MAX_SESSION_COOKIES = 180;

/** Secrets and cookies are kept and compared as hashes: how long a comparison takes tells nothing of them. */
const hashOf = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const newSecret = (): string => randomBytes(32).toString('base64url');
/** What newSecret makes (32 bytes in base64url): another value is no cookie of the gateway's, and is not hashed. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The values of the cookies of this name in a Cookie header, by their hashes. A page on another port of the host
 * may set one of the same name (cookies are per host, not per port), with a longer path so that the browser sends
 * it first: the session's own must still be found. Each is hashed on every request behind a token, by whoever
 * sends it: a 16 KiB header held some 1,100 (5 ms of hashing a request), now at most MAX_SESSION_COOKIES.
 */
function browsersIn(cookieHeader: string | undefined): Map<string, string> {
  const values: string[] = [];
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) values.push(value.join('='));
  }
  const browsers = new Map<string, string>();
  for (const value of new Set(values.slice(-MAX_SESSION_COOKIES))) if (SECRET_SHAPE.test(value)) browsers.set(hashOf(value), value);
  return browsers;
}

/**
 * Console sign-ins: an API token is exchanged once for a random secret the page keeps in its sessionStorage and
 * sends in a header (SESSION_SECRET_HEADER), and a random id in an HttpOnly, SameSite=Strict cookie, so the token
 * never sits in the page's storage and no other site's page can send the cookie along. The cookie alone is no
 * credential: a browser sends it to every port of the gateway's host, so any local process serving a page the
 * operator opens receives it; sessionStorage belongs to the console's origin (its port) and tab alone. The secret
 * names the session and the cookie must be the one it was signed in with; the tabs of one browser share the cookie,
 * so a sign-in in one tab keeps it and signs no other tab out. The API server takes the two together in place of a
 * bearer token, with the name and role its token has now: a session ends when its token is replaced or removed.
 * Kept in memory: a restart signs everyone out.
 */
export class ConsoleSessions implements SessionSource {
  /** By the hash of each session's secret. */
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    private readonly tokens: Pick<TokenRegistry, 'holderOf'>,
  ) {}

  /**
   * Starts a session for the browser whose Cookie header this is; returns its Set-Cookie header value and secret,
   * or undefined when every session is taken by other names (signing in over and over must not sign anybody else out).
   */
  start(token: AuthenticatedToken, secure: boolean, cookieHeader?: string): SessionStart | undefined {
    this.prune();
    const { name } = token.identity;
    const own = [...this.sessions].filter(([, session]) => session.name === name); // oldest first
    if (own.length >= MAX_SESSIONS_PER_NAME || (own.length > 0 && this.sessions.size >= MAX_SESSIONS)) this.sessions.delete(own[0]![0]);
    else if (this.sessions.size >= MAX_SESSIONS) return undefined;
    // Only a cookie this gateway gave out and a session still holds: one set by anybody else is replaced.
    const browser = this.heldBrowser(browsersIn(cookieHeader)) ?? newSecret();
    const secret = newSecret();
    this.sessions.set(hashOf(secret), { name, fingerprint: token.fingerprint, expiresAt: this.now() + SESSION_LIFETIME_MS, browser: hashOf(browser) });
    return { setCookie: cookie(browser, SESSION_LIFETIME_MS / 1000, secure), secret };
  }

  /**
   * Who the session of `secret` belongs to, when the cookie is the one it was signed in with; `wrong-secret` when
   * the cookie is a live session's but the secret is missing or not one of its browser's (a cookie taken
   * elsewhere); undefined otherwise (no cookie, or one no session holds, as every open console's after a restart).
   */
  identify(cookieHeader: string | undefined, secret: string | undefined): ApiIdentity | 'wrong-secret' | undefined {
    const browsers = browsersIn(cookieHeader);
    if (browsers.size === 0) return undefined;
    const key = secret === undefined ? undefined : hashOf(secret);
    const session = key === undefined ? undefined : this.sessions.get(key);
    if (session === undefined || !browsers.has(session.browser)) return this.heldBrowser(browsers) !== undefined ? 'wrong-secret' : undefined;
    const holder = this.holderOf(session);
    if (holder === undefined) {
      this.sessions.delete(key!);
      return undefined;
    }
    return holder;
  }

  /**
   * Ends the session of `secret` if the cookie is its browser's; returns the Set-Cookie header value that clears
   * the cookie, or undefined while another tab of that browser still holds a session.
   */
  end(cookieHeader: string | undefined, secret: string | undefined, secure: boolean): string | undefined {
    if (typeof this.identify(cookieHeader, secret) === 'object') this.sessions.delete(hashOf(secret!));
    return this.heldBrowser(browsersIn(cookieHeader)) !== undefined ? undefined : cookie('', 0, secure);
  }

  /** The session's holder now: undefined once it expired or its token was replaced or removed. */
  private holderOf(session: Session): ApiIdentity | undefined {
    const holder = session.expiresAt <= this.now() ? undefined : this.tokens.holderOf(session.fingerprint);
    return holder?.name === session.name ? holder : undefined;
  }

  /** The one of these cookies (by hash) a live session was signed in with, if any. */
  private heldBrowser(browsers: ReadonlyMap<string, string>): string | undefined {
    for (const session of this.sessions.values()) if (browsers.has(session.browser) && this.holderOf(session) !== undefined) return browsers.get(session.browser);
    return undefined;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(key);
  }
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

import { randomBytes } from 'node:crypto';
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
}

/** The session id in a Cookie header, if it names one. */
function sessionIdIn(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=');
  }
  return undefined;
}

/**
 * Console sign-ins: an API token is exchanged once for a random session id held in an HttpOnly, SameSite=Strict
 * cookie, so the token never sits in the page's storage and no other site's page can send the cookie along. The
 * API server takes the cookie in place of a bearer token, with the name and role its token has now: a session
 * ends when its token is replaced or removed. Kept in memory: a restart signs everyone out.
 */
export class ConsoleSessions implements SessionSource {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    private readonly tokens: Pick<TokenRegistry, 'holderOf'>,
  ) {}

  /**
   * Starts a session; returns the Set-Cookie header value, or undefined when every session is taken by other
   * names (signing in over and over must not sign anybody else out).
   */
  start(token: AuthenticatedToken, secure: boolean): string | undefined {
    this.prune();
    const { name } = token.identity;
    const own = [...this.sessions].filter(([, session]) => session.name === name); // oldest first
    if (own.length >= MAX_SESSIONS_PER_NAME || (own.length > 0 && this.sessions.size >= MAX_SESSIONS)) this.sessions.delete(own[0]![0]);
    else if (this.sessions.size >= MAX_SESSIONS) return undefined;
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { name, fingerprint: token.fingerprint, expiresAt: this.now() + SESSION_LIFETIME_MS });
    return cookie(id, SESSION_LIFETIME_MS / 1000, secure);
  }

  identify(cookieHeader: string | undefined): ApiIdentity | undefined {
    const id = sessionIdIn(cookieHeader);
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (session === undefined) return undefined;
    const holder = session.expiresAt <= this.now() ? undefined : this.tokens.holderOf(session.fingerprint);
    if (holder === undefined || holder.name !== session.name) {
      this.sessions.delete(id!);
      return undefined;
    }
    return holder;
  }

  /** Ends the session the cookie names; returns the Set-Cookie header value that clears it. */
  end(cookieHeader: string | undefined, secure: boolean): string {
    const id = sessionIdIn(cookieHeader);
    if (id !== undefined) this.sessions.delete(id);
    return cookie('', 0, secure);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

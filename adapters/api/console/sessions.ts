import { randomBytes } from 'node:crypto';

/** API roles (shared with the API's tokens): what each may do in the console. */
export type ConsoleRole = 'viewer' | 'operator' | 'installer' | 'admin';
export type ConsolePermission = 'read' | 'acknowledge' | 'test-windows';

export interface ConsoleIdentity {
  /** The token's name: recorded as who acknowledged or opened a window. */
  name: string;
  role: ConsoleRole;
}

/** Who a presented API token belongs to (the API's token registry). */
export interface ConsoleAuth {
  authenticate(token: string): ConsoleIdentity | undefined;
}

const PERMISSIONS: Record<ConsoleRole, ReadonlySet<ConsolePermission>> = {
  viewer: new Set(['read']),
  operator: new Set(['read', 'acknowledge']),
  installer: new Set(['read', 'test-windows']),
  admin: new Set(['read', 'acknowledge', 'test-windows']),
};

export function consoleMay(role: ConsoleRole, permission: ConsolePermission): boolean {
  return PERMISSIONS[role].has(permission);
}

export const SESSION_COOKIE = 'pb_console';
/** A session ends this long after sign-in, used or not (a wall screen signs in again twice a day). */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;
/** Sessions kept at once; the oldest is ended first. */
export const MAX_SESSIONS = 1_000;

interface Session {
  identity: ConsoleIdentity;
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
 * Console sign-ins: a token is exchanged once for a random session id held in an HttpOnly, SameSite=Strict
 * cookie, so the token never sits in the page's storage and no other site's page can send the cookie along.
 * Kept in memory: a restart signs everyone out.
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number) {}

  /** Starts a session; returns the Set-Cookie header value. */
  start(identity: ConsoleIdentity, secure: boolean): string {
    this.prune();
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { identity, expiresAt: this.now() + SESSION_LIFETIME_MS });
    return cookie(id, SESSION_LIFETIME_MS / 1000, secure);
  }

  identify(cookieHeader: string | undefined): ConsoleIdentity | undefined {
    const id = sessionIdIn(cookieHeader);
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id!);
      return undefined;
    }
    return session.identity;
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

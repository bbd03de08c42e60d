import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ConsoleSessions, MAX_SESSION_COOKIES, SESSION_COOKIE } from '../../../../adapters/api/console/sessions.js';

/** SHA-256 computations, counted: the work a Cookie header makes the gateway do before it knows who sent it. */
const hashes = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>();
  return { ...crypto, createHash: (...args: Parameters<typeof crypto.createHash>) => (hashes.count++, crypto.createHash(...args)) };
});

const holder = { holderOf: () => ({ name: 'desk', role: 'operator' as const }) };
const token = { identity: { name: 'desk', role: 'operator' as const }, fingerprint: 'f' };
/** A value of the shape the gateway gives its cookies (32 random bytes, base64url). */
const cookieValue = () => randomBytes(32).toString('base64url');

describe('console sessions against a Cookie header stuffed with cookies of their name', () => {
  it(`hash at most MAX_SESSION_COOKIES of them, the last ones, where a browser puts the cookie the gateway set`, () => {
    const sessions = new ConsoleSessions(() => 0, holder);
    const { setCookie, secret } = sessions.start(token, false)!;
    const own = setCookie.split(';')[0]!;
    // A 16 KiB header (the most the listener reads) holds about 280 cookies of this shape: each was hashed, on every
    // request to a route behind a token, by anybody; other values (the empty one sign-out sets) cannot be the gateway's.
    const stuffing = Array.from({ length: 280 }, () => `${SESSION_COOKIE}=${cookieValue()}`);
    const junk = Array.from({ length: 50 }, (_, i) => `${SESSION_COOKIE}=x${i}`);
    hashes.count = 0;
    expect(sessions.identify([...junk, ...stuffing, own].join('; '), 'a guess')).toBe('wrong-secret');
    expect(hashes.count).toBeLessThanOrEqual(MAX_SESSION_COOKIES + 1);
    // The session is still found with its secret behind a path-specific cookie another page set (sent first).
    expect(sessions.identify([...stuffing.slice(0, 20), own].join('; '), secret)).toEqual({ name: 'desk', role: 'operator' });
  });
});

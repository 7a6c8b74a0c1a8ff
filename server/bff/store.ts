// Server-side state for the BFF, optional: the cookies are enough by
// default (stateless). A store holds what must be known across requests
// and instances and cannot ride in a cookie: the `sid`s of sessions ended
// from the server (back-channel logout, OpenID Connect Back-Channel Logout
// 1.0 §2.7), checked on every request that reads the session, and the `jti`s
// of logout tokens already received (§2.6: a replayed token is refused).
// Any shared key-value store with expiry fits (Redis: GET / SET NX EX / DEL,
// redis-store.ts). The memory store serves one instance only: behind a load
// balancer, a logout received by one instance must be seen by all.

export interface BffStore {
  get(key: string): Promise<string | undefined>;
  /** Stores `value` for `ttlSeconds` (then it may be forgotten). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Stores `value` for `ttlSeconds` only if `key` holds nothing, in one step; resolves whether it did (false: already there). */
  add(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** The deny-list key of an ended login session. */
export const endedSessionKey = (sid: string) => `tollgate-bff:ended-sid:${sid}`;

/** The key of a subject whose every session ended (a logout token with `sub` and no `sid`): holds when, ms since the epoch. */
export const endedSubjectKey = (sub: string) => `tollgate-bff:ended-sub:${sub}`;

/** The key of a sign-in's tokens (tokenStorage 'store'), by its binding id: a random secret known to the sealed session cookie only. */
export const tokensKey = (bid: string) => `tollgate-bff:tokens:${bid}`;

/** The key of a logout token's `jti` already received. */
export const usedLogoutTokenKey = (id: string) => `tollgate-bff:logout-jti:${id}`;

/**
 * A store in this process's memory: for one instance (or tests). Entries
 * are dropped when read after their expiry, and swept every so often.
 */
export function createMemoryStore(now: () => number = Date.now): BffStore {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  let writes = 0;
  const sweep = () => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
  };
  // Synchronous, so that `add` checks and writes with nothing in between.
  const read = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.value;
  };
  const write = (key: string, value: string, ttlSeconds: number) => {
    if ((writes += 1) % 1000 === 0) sweep();
    entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
  };
  return {
    async get(key) {
      return read(key);
    },
    async set(key, value, ttlSeconds) {
      write(key, value, ttlSeconds);
    },
    async add(key, value, ttlSeconds) {
      if (read(key) !== undefined) return false;
      write(key, value, ttlSeconds);
      return true;
    },
    async delete(key) {
      entries.delete(key);
    },
  };
}

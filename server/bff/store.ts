// Server-side state for the BFF, optional: the cookies are enough by
// default (stateless). A store holds what must be known across requests
// and instances and cannot ride in a cookie: the `sid`s of sessions ended
// from the server (back-channel logout, OpenID Connect Back-Channel Logout
// 1.0 §2.7), checked on every request that reads the session. Any shared
// key-value store with expiry fits (Redis: GET / SET EX / DEL).

export interface BffStore {
  get(key: string): Promise<string | undefined>;
  /** Stores `value` for `ttlSeconds` (then it may be forgotten). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
}

/** The deny-list key of an ended login session. */
export const endedSessionKey = (sid: string) => `tollgate-bff:ended-sid:${sid}`;

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
  return {
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    async set(key, value, ttlSeconds) {
      if ((writes += 1) % 1000 === 0) sweep();
      entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
    },
    async delete(key) {
      entries.delete(key);
    },
  };
}

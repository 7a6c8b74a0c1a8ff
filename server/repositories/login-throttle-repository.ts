// Counters of failed sign-ins per key in fixed windows. Each write is one
// atomic upsert, so concurrent failures are all counted. On the login path:
// SQL straight to the driver (see Database.query).
import type { Database } from './database.ts';

export interface ThrottleState {
  failures: number;
  /** When the current window ends. */
  resetsAt: Date;
}

export interface LoginThrottleRepository {
  /** The key's state in its current window, or undefined when it has none. */
  get(key: string, windowSeconds: number): Promise<ThrottleState | undefined>;
  /** Counts one failure, opening a new window when the last one has passed. */
  recordFailure(key: string, windowSeconds: number): Promise<ThrottleState>;
  /** recordFailure for several distinct keys at once (one statement); states in the keys' order. */
  recordFailures(keys: readonly string[], windowSeconds: number): Promise<ThrottleState[]>;
  reset(key: string): Promise<void>;
  /** Takes one counted attempt back (a success), never below zero. */
  forgive(key: string): Promise<void>;
  /** reset(`resetKey`) and forgive(`forgiveKey`) at once (one statement): what a successful sign-in does. */
  resetAndForgive(resetKey: string, forgiveKey: string): Promise<void>;
  /** Deletes up to `limit` counters whose window ended; returns how many went. */
  purgeExpired(windowSeconds: number, limit: number): Promise<number>;
}

// Keys embed what people type; NUL cannot be stored in PostgreSQL text.
const safeKey = (key: string) => key.replaceAll('\u0000', '\uFFFD');

interface Row { failures: number; window_started_at: Date }

// One atomic upsert per key; several keys in one statement (a sign-in counts its account and its address).
const RECORD_FAILURES = `
INSERT INTO login_throttle (key, failures, window_started_at)
SELECT key, 1, now() FROM unnest($1::text[]) AS key
ON CONFLICT (key) DO UPDATE SET
  failures = CASE WHEN login_throttle.window_started_at <= now() - $2::int * interval '1 second'
                  THEN 1 ELSE login_throttle.failures + 1 END,
  window_started_at = CASE WHEN login_throttle.window_started_at <= now() - $2::int * interval '1 second'
                  THEN now() ELSE login_throttle.window_started_at END
RETURNING key, failures, window_started_at`;

const toState = (row: Row, windowSeconds: number): ThrottleState => ({
  failures: Number(row.failures),
  resetsAt: new Date(new Date(row.window_started_at).getTime() + windowSeconds * 1000),
});

export function createLoginThrottleRepository(db: Pick<Database, 'query' | 'execute'>): LoginThrottleRepository {
  return {
    async get(key, windowSeconds) {
      const [row] = await db.query<Row>(
        `SELECT failures, window_started_at FROM login_throttle
          WHERE key = $1 AND window_started_at > now() - $2::int * interval '1 second'`,
        [safeKey(key), windowSeconds],
      );
      return row ? toState(row, windowSeconds) : undefined;
    },

    async recordFailure(key, windowSeconds) {
      const [state] = await this.recordFailures([key], windowSeconds);
      return state!;
    },

    async recordFailures(keys, windowSeconds) {
      const safe = keys.map(safeKey);
      // One row per key: ON CONFLICT cannot touch the same row twice in one statement.
      const rows = await db.query<Row & { key: string }>(RECORD_FAILURES, [[...new Set(safe)], windowSeconds]);
      const byKey = new Map(rows.map((row) => [row.key, toState(row, windowSeconds)]));
      return safe.map((key) => byKey.get(key)!);
    },

    async resetAndForgive(resetKey, forgiveKey) {
      await db.execute(
        `WITH reset AS (DELETE FROM login_throttle WHERE key = $1)
         UPDATE login_throttle SET failures = failures - 1 WHERE key = $2 AND failures > 0`,
        [safeKey(resetKey), safeKey(forgiveKey)],
      );
    },

    async reset(key) {
      await db.execute('DELETE FROM login_throttle WHERE key = $1', [safeKey(key)]);
    },

    async forgive(key) {
      await db.execute('UPDATE login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0', [safeKey(key)]);
    },

    async purgeExpired(windowSeconds, limit) {
      return db.execute(
        `DELETE FROM login_throttle WHERE key IN (
           SELECT key FROM login_throttle WHERE window_started_at < now() - $1::int * interval '1 second' LIMIT $2)`,
        [windowSeconds, limit],
      );
    },
  };
}

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
  reset(key: string): Promise<void>;
  /** Takes one counted attempt back (a success), never below zero. */
  forgive(key: string): Promise<void>;
  /** Deletes up to `limit` counters whose window ended; returns how many went. */
  purgeExpired(windowSeconds: number, limit: number): Promise<number>;
}

// Keys embed what people type; NUL cannot be stored in PostgreSQL text.
const safeKey = (key: string) => key.replaceAll('\u0000', '\uFFFD');

interface Row { failures: number; window_started_at: Date }

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
      const [row] = await db.query<Row>(
        `INSERT INTO login_throttle (key, failures, window_started_at) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_throttle.window_started_at <= now() - $2::int * interval '1 second'
                           THEN 1 ELSE login_throttle.failures + 1 END,
           window_started_at = CASE WHEN login_throttle.window_started_at <= now() - $2::int * interval '1 second'
                           THEN now() ELSE login_throttle.window_started_at END
         RETURNING failures, window_started_at`,
        [safeKey(key), windowSeconds],
      );
      return toState(row!, windowSeconds);
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

// Counters of failed sign-ins per key in fixed windows. Each write is one
// atomic upsert, so concurrent failures are all counted.
import type { PrismaClient } from '../generated/prisma/client.ts';

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
  /** Deletes up to `limit` counters whose window ended; returns how many went. */
  purgeExpired(windowSeconds: number, limit: number): Promise<number>;
}

// Keys embed what people type; NUL cannot be stored in PostgreSQL text.
const safeKey = (key: string) => key.replaceAll('\u0000', '\uFFFD');

export function createLoginThrottleRepository(prisma: PrismaClient): LoginThrottleRepository {
  const toState = (row: { failures: number; windowStartedAt: Date }, windowSeconds: number): ThrottleState => ({
    failures: row.failures,
    resetsAt: new Date(row.windowStartedAt.getTime() + windowSeconds * 1000),
  });

  return {
    async get(key, windowSeconds) {
      const row = await prisma.loginThrottle.findUnique({ where: { key: safeKey(key) } });
      if (!row || row.windowStartedAt.getTime() + windowSeconds * 1000 <= Date.now()) return undefined;
      return toState(row, windowSeconds);
    },

    async recordFailure(key, windowSeconds) {
      const rows = await prisma.$queryRaw<Array<{ failures: number; window_started_at: Date }>>`
        INSERT INTO login_throttle (key, failures, window_started_at) VALUES (${safeKey(key)}, 1, now())
        ON CONFLICT (key) DO UPDATE SET
          failures = CASE WHEN login_throttle.window_started_at <= now() - ${windowSeconds}::int * interval '1 second'
                          THEN 1 ELSE login_throttle.failures + 1 END,
          window_started_at = CASE WHEN login_throttle.window_started_at <= now() - ${windowSeconds}::int * interval '1 second'
                          THEN now() ELSE login_throttle.window_started_at END
        RETURNING failures, window_started_at`;
      const row = rows[0]!;
      return toState({ failures: Number(row.failures), windowStartedAt: new Date(row.window_started_at) }, windowSeconds);
    },

    async purgeExpired(windowSeconds, limit) {
      return prisma.$executeRaw`
        DELETE FROM login_throttle WHERE key IN (
          SELECT key FROM login_throttle WHERE window_started_at < now() - ${windowSeconds}::int * interval '1 second' LIMIT ${limit}
        )`;
    },

    async reset(key) {
      await prisma.loginThrottle.deleteMany({ where: { key: safeKey(key) } });
    },
  };
}

// Removes what has expired (interactions, sessions, codes, tokens, grants,
// login counters, revocation records of expired JWTs, spent link tokens) in bounded batches, so the database does not grow without
// bound under sustained load, including load nobody authenticated for: every
// anonymous /auth request stores an interaction. find() already ignores
// expired rows; this only reclaims their space.
import type { Logger } from '../logger.ts';
import type { JanitorKind, Metrics } from '../metrics.ts';
import type { Repositories } from '../repositories/index.ts';
import { THROTTLE_POLICY } from './login-throttle.ts';

export interface JanitorOptions {
  /** Between passes. */
  intervalMs: number;
  /** Rows per DELETE; a pass repeats batches until one comes back short. */
  batchSize: number;
  /** Upper bound on batches per pass, so a huge backlog is worked off over several passes. */
  maxBatches: number;
  /** Audit events older than this many days go. */
  auditRetentionDays: number;
  /**
   * When sessions live in Redis (not in the database, where orphans can be
   * found), device records not seen for this many seconds go: the absolute
   * session lifetime, past which no session can still be using them.
   */
  deviceRetentionSeconds?: number;
}

/** Used or expired link tokens stay this long before the janitor removes them. */
export const ACCOUNT_TOKEN_GRACE_SECONDS = 86_400;

export const JANITOR_DEFAULTS: JanitorOptions = Object.freeze({ intervalMs: 60_000, batchSize: 1_000, maxBatches: 50, auditRetentionDays: 365 });

export interface Janitor {
  /** One pass now; resolves with the number of rows removed. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startJanitor(repositories: Pick<Repositories, 'oidcModels' | 'loginThrottle' | 'revokedTokens' | 'sessionDevices' | 'audit' | 'accountTokens'> & Partial<Pick<Repositories, 'webauthnCredentials'>>, logger: Logger, options: JanitorOptions = JANITOR_DEFAULTS, metrics?: Metrics): Janitor {
  let running: Promise<number> | undefined;

  /** Runs one kind of bounded DELETE until a batch comes back short (or the pass's cap). */
  const drain = async (kind: JanitorKind, purge: (limit: number) => Promise<number>) => {
    let removed = 0;
    try {
      for (let batch = 0; batch < options.maxBatches; batch += 1) {
        const n = await purge(options.batchSize);
        removed += n;
        if (n < options.batchSize) break;
      }
    } finally {
      // What went before a failed batch is gone all the same.
      metrics?.janitorPurged(kind, removed);
    }
    return removed;
  };

  const pass = async (): Promise<number> => {
    let removed = 0;
    removed += await drain('oidc_models', (limit) => repositories.oidcModels.purgeExpired(limit));
    removed += await drain('login_counters', (limit) => repositories.loginThrottle.purgeExpired(THROTTLE_POLICY.windowSeconds, limit));
    removed += await drain('revoked_tokens', (limit) => repositories.revokedTokens.purgeExpired(limit));
    // After the sessions above are gone, their device records follow.
    const deviceRetention = options.deviceRetentionSeconds;
    removed += await drain('session_devices', (limit) => (deviceRetention === undefined
      ? repositories.sessionDevices.purgeOrphans(limit)
      : repositories.sessionDevices.purgeUnseenFor(deviceRetention, limit)));
    removed += await drain('audit_events', (limit) => repositories.audit.purgeOlderThan(options.auditRetentionDays, limit));
    // A day after use or expiry, so a link clicked twice still finds its row and the page can say "already used".
    removed += await drain('account_tokens', (limit) => repositories.accountTokens.purgeSpent(ACCOUNT_TOKEN_GRACE_SECONDS, limit));
    const passkeys = repositories.webauthnCredentials;
    if (passkeys) removed += await drain('webauthn_challenges', (limit) => passkeys.purgeExpiredChallenges(limit));
    if (removed) logger.info({ removed }, 'janitor removed expired rows');
    return removed;
  };

  const sweep = () => {
    // Never two passes at once: a slow pass makes the next tick a no-op.
    running ??= pass().finally(() => { running = undefined; });
    return running;
  };

  const timer = setInterval(() => {
    sweep().catch((err: Error) => logger.warn({ err: { message: err.message } }, 'janitor pass failed; will retry'));
  }, options.intervalMs);
  timer.unref();

  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

// Brute-force throttling of the login form (OWASP Authentication Cheat
// Sheet, "Login Throttling"): per account, 10 failures in 15 minutes lock
// further attempts until the window passes; per client IP (IPv6 by /64, the
// smallest block one subscriber gets), a higher limit slows credential
// stuffing across many accounts.
//
// An attempt is counted *before* the password is checked, in one atomic
// increment: checking first and counting after the ~15 ms of argon2id would
// let a burst of parallel guesses all pass the check. A success then takes
// its attempt back and clears the account's count (not the IP's, or one
// valid account would launder an attacker's address). Unknown e-mails are
// counted like known ones, so a 429 reveals nothing about which accounts exist.
import { isIPv6 } from 'node:net';
import type { LoginThrottleRepository, ThrottleState } from '../repositories/login-throttle-repository.ts';
import type { Metrics } from '../metrics.ts';

export interface ThrottlePolicy {
  readonly windowSeconds: number;
  readonly maxAccountFailures: number;
  readonly maxIpFailures: number;
}

export const THROTTLE_POLICY: ThrottlePolicy = Object.freeze({
  windowSeconds: 15 * 60,
  maxAccountFailures: 10,
  maxIpFailures: 100,
});

export interface LoginThrottle {
  /** Counts an attempt; resolves with the seconds to wait when it is over a limit (then do not check the password), else 0. */
  attempt(email: string, ip: string): Promise<number>;
  /** The attempt succeeded: it does not count, and the account starts afresh. */
  succeeded(email: string, ip: string): Promise<void>;
}

/** The login form's counter of an address (an account's deletion removes it: services/account-deletion.ts). */
export const accountThrottleKey = (email: string) => `account:${email.trim().toLowerCase()}`;

export function createLoginThrottle(store: LoginThrottleRepository, policy: ThrottlePolicy = THROTTLE_POLICY, metrics?: Metrics): LoginThrottle {
  const accountKey = accountThrottleKey;
  const wait = (resetsAt: Date) => Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));

  return {
    async attempt(email, ip) {
      const [account, address] = (await store.recordFailures([accountKey(email), ipKey(ip)], policy.windowSeconds)) as [ThrottleState, ThrottleState];
      const seconds = Math.max(
        account.failures > policy.maxAccountFailures ? wait(account.resetsAt) : 0,
        address.failures > policy.maxIpFailures ? wait(address.resetsAt) : 0,
      );
      // Every caller refuses the attempt when told to wait (routes/interaction/login.ts).
      if (seconds > 0) metrics?.throttled('login');
      return seconds;
    },
    async succeeded(email, ip) {
      await store.resetAndForgive(accountKey(email), ipKey(ip));
    },
  };
}

/**
 * Failed client authentication at /token, /token/introspection and
 * /token/revocation: a client secret could otherwise be guessed at the
 * speed of the network. Counted per client id (whatever the address: a
 * guesser with many addresses) and per address (whatever the client id),
 * in the login form's counters and window (one table or Redis hash per key,
 * one atomic upsert per failure).
 *
 * Only failures are written: a successful authentication costs no I/O (the
 * token endpoint is the hottest route; a refresh is two statements) and
 * resets nothing, so a client succeeding from one address never clears the
 * counts of a guesser at another. Each failure's upsert returns the shared
 * counts; once one is over its limit this instance remembers the lock until
 * the window ends and refuses that client id or address before any secret is
 * compared. Another instance learns of the lock at its own next failure for
 * the key: a lock lets at most one more guess through per instance (and
 * the requests already in flight when it is learnt).
 */
export interface ClientAuthPolicy {
  readonly windowSeconds: number;
  readonly maxClientFailures: number;
  readonly maxIpFailures: number;
}

export const CLIENT_AUTH_POLICY: ClientAuthPolicy = Object.freeze({
  // The login form's window, so that the janitor's purge of expired counters fits both.
  windowSeconds: THROTTLE_POLICY.windowSeconds,
  // Far beyond an operator's typos or a deploy with a stale secret; far below
  // what guessing even a weak secret needs. Not lower: anyone who knows a
  // client id (it is public) can spend this budget and lock the client out for a window.
  maxClientFailures: 50,
  maxIpFailures: 20,
});

export interface ClientAuthThrottle {
  /** Seconds this client id or address stays locked, as this instance knows (no I/O), else 0. */
  lockedFor(clientId: string | undefined, ip: string): number;
  /** Counts a failed authentication; resolves with the seconds to wait when it is now over a limit, else 0. */
  failed(clientId: string | undefined, ip: string): Promise<number>;
}

const MAX_REMEMBERED_LOCKS = 10_000;

export function createClientAuthThrottle(store: LoginThrottleRepository, policy: ClientAuthPolicy = CLIENT_AUTH_POLICY): ClientAuthThrottle {
  // Kept apart from the login form's `account:` and `ip:` counters.
  // Registered ids are at most 128 characters; a longer one (unknown, so failing) is cut to bound the key.
  const clientKey = (clientId: string) => `client-auth:client:${clientId.slice(0, 200)}`;
  const addressKey = (ip: string) => `client-auth:${ipKey(ip)}`;
  const lockedUntil = new Map<string, number>();

  const remaining = (key: string, now: number) => {
    const until = lockedUntil.get(key);
    if (until === undefined) return 0;
    if (until <= now) {
      lockedUntil.delete(key);
      return 0;
    }
    return Math.ceil((until - now) / 1000);
  };
  const remember = (key: string, until: Date) => {
    if (lockedUntil.size >= MAX_REMEMBERED_LOCKS) {
      const now = Date.now();
      for (const [k, u] of lockedUntil) if (u <= now) lockedUntil.delete(k);
      // Still full: forget the oldest lock; the shared counter still holds it, and the next failure relearns it.
      if (lockedUntil.size >= MAX_REMEMBERED_LOCKS) lockedUntil.delete(lockedUntil.keys().next().value!);
    }
    lockedUntil.set(key, until.getTime());
  };

  const lockedFor = (clientId: string | undefined, ip: string) => {
    const now = Date.now();
    return Math.max(remaining(addressKey(ip), now), clientId === undefined ? 0 : remaining(clientKey(clientId), now));
  };

  return {
    lockedFor,
    async failed(clientId, ip) {
      const keys = clientId === undefined ? [addressKey(ip)] : [addressKey(ip), clientKey(clientId)];
      const states = await store.recordFailures(keys, policy.windowSeconds);
      const limits = [policy.maxIpFailures, policy.maxClientFailures];
      states.forEach((state, i) => {
        if (state.failures > limits[i]!) remember(keys[i]!, state.resetsAt);
      });
      return lockedFor(clientId, ip);
    },
  };
}

/** The throttling key of a client address: IPv4 as is, IPv6 by its /64 prefix. */
export function ipKey(ip: string): string {
  const address = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (!isIPv6(address)) return `ip:${address}`;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `ip6:${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

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

export function createLoginThrottle(store: LoginThrottleRepository, policy: ThrottlePolicy = THROTTLE_POLICY): LoginThrottle {
  const accountKey = (email: string) => `account:${email.trim().toLowerCase()}`;
  const wait = (resetsAt: Date) => Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));

  return {
    async attempt(email, ip) {
      const [account, address] = (await store.recordFailures([accountKey(email), ipKey(ip)], policy.windowSeconds)) as [ThrottleState, ThrottleState];
      return Math.max(
        account.failures > policy.maxAccountFailures ? wait(account.resetsAt) : 0,
        address.failures > policy.maxIpFailures ? wait(address.resetsAt) : 0,
      );
    },
    async succeeded(email, ip) {
      await store.resetAndForgive(accountKey(email), ipKey(ip));
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

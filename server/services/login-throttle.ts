// Brute-force throttling of the login form (OWASP Authentication Cheat
// Sheet, "Login Throttling"): per account, 10 failures in 15 minutes lock
// further attempts until the window passes; per client IP, a higher limit
// slows credential stuffing across many accounts. A success clears the
// account's count (not the IP's, or one valid account would launder an
// attacker's IP). Unknown e-mails are counted like known ones, so the 429
// reveals nothing about which accounts exist.
import type { LoginThrottleRepository } from '../repositories/login-throttle-repository.ts';

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
  /** Seconds to wait when sign-in is locked for this e-mail or IP, else 0. */
  retryAfter(email: string, ip: string): Promise<number>;
  recordFailure(email: string, ip: string): Promise<void>;
  recordSuccess(email: string): Promise<void>;
}

export function createLoginThrottle(store: LoginThrottleRepository, policy: ThrottlePolicy = THROTTLE_POLICY): LoginThrottle {
  const accountKey = (email: string) => `account:${email.trim().toLowerCase()}`;
  const ipKey = (ip: string) => `ip:${ip}`;
  const wait = (resetsAt: Date) => Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));

  return {
    async retryAfter(email, ip) {
      const [account, address] = await Promise.all([
        store.get(accountKey(email), policy.windowSeconds),
        store.get(ipKey(ip), policy.windowSeconds),
      ]);
      const waits = [
        account && account.failures >= policy.maxAccountFailures ? wait(account.resetsAt) : 0,
        address && address.failures >= policy.maxIpFailures ? wait(address.resetsAt) : 0,
      ];
      return Math.max(...waits);
    },
    async recordFailure(email, ip) {
      await Promise.all([
        store.recordFailure(accountKey(email), policy.windowSeconds),
        store.recordFailure(ipKey(ip), policy.windowSeconds),
      ]);
    },
    async recordSuccess(email) {
      await store.reset(accountKey(email));
    },
  };
}

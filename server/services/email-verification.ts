// E-mail verification (issue 14, point 2): a single-use link, sent at
// sign-up, on demand (the account page, a sign-in under
// REQUIRE_VERIFIED_EMAIL, an operator), whose redemption makes the account's
// `email_verified` true, as ID tokens and userinfo then say
// (oidc/find-account.ts reads the account afresh for each request).
//
// A link is bound to the address it was sent to (the token's data): should
// the account's address change before the link is opened, the link no longer
// verifies anything, so a link sent to an old mailbox can never vouch for a
// new one.
//
// Sends are throttled per account, in the login form's counters (one atomic
// upsert per key, in the database or Redis): at most one a minute and three
// per 15 minutes. Nothing here is reachable without the account's password
// or an operator, so the account is the only key that matters. The 15-minute
// window is the login form's, so that the janitor's purge of expired counters
// (THROTTLE_POLICY.windowSeconds) fits both.
import type { Locale } from '../i18n.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { AccountRepository, StoredAccount } from '../repositories/account-repository.ts';
import type { LoginThrottleRepository } from '../repositories/login-throttle-repository.ts';
import { activeAccount } from './accounts.ts';
import type { AccountLinks } from './account-links.ts';
import { THROTTLE_POLICY } from './login-throttle.ts';

/** How long a verification link works: a day, long enough to reach a mailbox read once a day. */
export const VERIFY_EMAIL_TTL_SECONDS = 24 * 60 * 60;

export const VERIFY_EMAIL_SEND_POLICY = Object.freeze({
  /** One message a minute: a second click on "send again" does not send a second one. */
  shortWindowSeconds: 60,
  maxPerShortWindow: 1,
  /** Three per 15 minutes: enough for a message lost to a spam filter, too few to flood a mailbox. */
  longWindowSeconds: THROTTLE_POLICY.windowSeconds,
  maxPerLongWindow: 3,
});

/** The account fields a send needs. */
export type VerifiableAccount = Pick<StoredAccount, 'id' | 'email' | 'name' | 'emailVerified'>;

export type SendOutcome =
  | { sent: true; expiresAt: Date }
  /** mail_off: no SMTP_URL (nor MAIL_LOG); throttled: `retryAfter` seconds until the next may go. */
  | { sent: false; reason: 'mail_off' }
  | { sent: false; reason: 'already_verified' }
  | { sent: false; reason: 'throttled'; retryAfter: number };

export interface EmailVerification {
  /** False when mail is off: the pages say that verification by e-mail is not available. */
  readonly available: boolean;
  /** Issues a link (the previous one stops working) and queues the message; `throttle: false` for operators. */
  send(account: VerifiableAccount, locale: Locale, options?: { throttle?: boolean }): Promise<SendOutcome>;
  /** The account a link would verify, without using it (GET shows a button; POST confirms). */
  inspect(token: unknown): Promise<StoredAccount | undefined>;
  /**
   * Uses the link and marks the address verified: the account as it is now
   * and whether this link changed it (an operator may have been first), or
   * undefined (used, expired, tampered, superseded, address changed).
   */
  confirm(token: unknown): Promise<{ account: StoredAccount; newlyVerified: boolean } | undefined>;
}

export function createEmailVerification(deps: {
  mailer: Pick<Mailer, 'enabled' | 'send'>;
  links: AccountLinks;
  accounts: Pick<AccountRepository, 'findById' | 'update'>;
  counters: Pick<LoginThrottleRepository, 'recordFailures'>;
  /** Links are built from ISSUER, never from a request's Host header. */
  issuer: string;
}): EmailVerification {
  const policy = VERIFY_EMAIL_SEND_POLICY;
  const waitUntil = (resetsAt: Date) => Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));

  /** Seconds to wait before another send, or 0 (this send is counted). The long window counts only sends the short one let through. */
  async function throttled(accountId: string): Promise<number> {
    const [short] = await deps.counters.recordFailures([`verify-email:minute:${accountId}`], policy.shortWindowSeconds);
    if (short!.failures > policy.maxPerShortWindow) return waitUntil(short!.resetsAt);
    const [long] = await deps.counters.recordFailures([`verify-email:${accountId}`], policy.longWindowSeconds);
    return long!.failures > policy.maxPerLongWindow ? waitUntil(long!.resetsAt) : 0;
  }

  /** The link's account, if it is active and still has the address the link was sent to. */
  async function accountOf(target: { accountId: string; data: Record<string, unknown> | null } | undefined): Promise<StoredAccount | undefined> {
    if (!target) return undefined;
    const account = activeAccount(await deps.accounts.findById(target.accountId));
    return account && account.email === target.data?.email ? account : undefined;
  }

  return {
    available: deps.mailer.enabled,

    async send(account, locale, options = {}) {
      if (!deps.mailer.enabled) return { sent: false, reason: 'mail_off' };
      if (account.emailVerified) return { sent: false, reason: 'already_verified' };
      if (options.throttle !== false) {
        const retryAfter = await throttled(account.id);
        if (retryAfter > 0) return { sent: false, reason: 'throttled', retryAfter };
      }
      const token = await deps.links.issue('verify_email', account.id, { ttlSeconds: VERIFY_EMAIL_TTL_SECONDS, data: { email: account.email } });
      const link = `${deps.issuer}/account/verify-email?${new URLSearchParams({ token }).toString()}`;
      // No name: the address is not confirmed yet, and a name typed at sign-up
      // would be a stranger's text in the mailbox of whoever the address belongs to.
      deps.mailer.send({ kind: 'verify_email', to: account.email, locale, data: { link }, accountId: account.id });
      return { sent: true, expiresAt: new Date(Date.now() + VERIFY_EMAIL_TTL_SECONDS * 1000) };
    },

    inspect: async (token) => accountOf(await deps.links.inspect('verify_email', token as string)),

    async confirm(token) {
      const account = await accountOf(await deps.links.redeem('verify_email', token as string));
      if (!account) return undefined;
      if (account.emailVerified) return { account, newlyVerified: false };
      const updated = await deps.accounts.update(account.id, { emailVerified: true });
      return updated && { account: updated, newlyVerified: true };
    },
  };
}

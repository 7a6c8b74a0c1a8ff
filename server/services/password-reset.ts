// Forgotten password (issue 14, point 3): a request sends a single-use link
// valid 30 minutes to the account's address; redeeming it sets a new
// password and ends everything the account holds, because a reset means the
// old password may be known to someone else.
//
// No enumeration: the request page answers before any of the account's work
// is done. `requestInBackground` is not awaited by the page; the lookup, the
// token, the rendering and the audit run after the answer has left, so a known
// and an unknown address answer the same page in the same time (measured in
// test/flows/password-reset.test.ts). Errors of that work are logged, never shown.
//
// Throttling reuses the login throttle's counters (one atomic upsert per
// request) under keys of its own, so reset requests neither spend nor are
// limited by the login form's budget. Unknown addresses are counted like
// known ones: a 429 says nothing about which addresses have accounts.
import { z } from 'zod';
import { NotFoundError, ConflictError, MailUnavailableError } from '../errors.ts';
import type { Identities } from '../federation/identities.ts';
import type { Locale } from '../i18n.ts';
import type { Logger } from '../logger.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { LoginThrottleRepository, ThrottleState } from '../repositories/login-throttle-repository.ts';
import type { AccountLinks } from './account-links.ts';
import { passwordReset as passwordSchema, type AccountService } from './accounts.ts';
import type { Audit } from './audit.ts';
import { ipKey } from './login-throttle.ts';
import type { ForcedLogout, SessionService } from './sessions.ts';

/** How long a reset link works (issue 14: 30 minutes). */
export const RESET_LINK_MINUTES = 30;

export interface ResetThrottlePolicy {
  readonly windowSeconds: number;
  /** Requests for one address, from anywhere: a mailbox is not flooded, a link is not re-issued faster than it can be used. */
  readonly maxAddressRequests: number;
  /** Requests from one address (IPv6 by /64), for any address: probing many addresses from one place is slowed. */
  readonly maxIpRequests: number;
}

export const RESET_THROTTLE_POLICY: ResetThrottlePolicy = Object.freeze({
  // The login form's window, so that the janitor's purge of expired counters fits both.
  windowSeconds: 15 * 60,
  maxAddressRequests: 5,
  maxIpRequests: 20,
});

/** An interaction uid as oidc-provider makes them (nanoid): anything else is dropped, never carried into a link. */
const INTERACTION_UID = /^[A-Za-z0-9_-]{1,64}$/;

export const forgotPasswordForm = z.object({
  email: z.string().trim().toLowerCase().min(1).max(320),
  interaction: z.string().regex(INTERACTION_UID).optional().catch(undefined),
});

/** Who did it, for the audit trail. */
export interface Seen { ip?: string; userAgent?: string; actor?: string; via?: string }

export type ResetOutcome =
  | { ok: true; accountId: string; ended: ForcedLogout; interaction?: string }
  | { ok: false; reason: 'invalid_link' | 'invalid_password' };

export interface PasswordReset {
  /** False without mail: the pages say reset by e-mail is unavailable; the admin API refuses. */
  readonly enabled: boolean;
  /** Counts a request; the seconds to wait when it is over a limit, else 0. */
  throttle(email: string, ip: string): Promise<number>;
  /**
   * The request page's work, started and not awaited: an active account with
   * this address gets a link (only the newest works), audited as
   * `password.reset_requested`. Never throws.
   */
  requestInBackground(request: { email: string; locale: Locale; interaction?: string; after?: Promise<unknown> } & Seen): void;
  /** An operator's request (admin API, CLI): throws NotFoundError, ConflictError (disabled), MailUnavailableError. */
  sendFor(accountId: string, locale: Locale, seen: Seen): Promise<{ account: string; expires_at: string }>;
  /** The link's token is live and its account active (a GET shows the form; nothing is spent). */
  inspect(token: unknown): Promise<boolean>;
  /**
   * Checks the password first (a bad one spends nothing), then redeems the
   * token, sets the password, revokes the account's other link tokens, ends
   * every session, grant and refresh token (back-channel logout included) and
   * audits `password.reset`.
   */
  complete(token: unknown, password: string, seen: Seen): Promise<ResetOutcome>;
  /** Resolves once the background work started so far has finished (tests, shutdown). */
  idle(): Promise<void>;
}

export interface PasswordResetDependencies {
  /** A reset proves the address: identities linked before anyone had proven it go (federation/identities.ts). */
  identities?: Pick<Identities, 'unlinkAllUnproven'>;
  /** ISSUER: every link is built from it, never from a request's Host. */
  issuer: string;
  accounts: Pick<AccountService, 'idForEmail' | 'findActive' | 'setPassword' | 'get' | 'update'>;
  links: AccountLinks;
  mailer: Pick<Mailer, 'enabled' | 'send'>;
  sessions: Pick<SessionService, 'endEverything'>;
  audit: Audit;
  throttleStore: Pick<LoginThrottleRepository, 'recordFailures'>;
  logger: Logger;
  policy?: ResetThrottlePolicy;
}

/** The reset requests' counter of one address (account deletion removes it: it names the person). */
export const resetThrottleKey = (email: string) => `password-reset:account:${email.trim().toLowerCase()}`;

export function createPasswordReset(deps: PasswordResetDependencies): PasswordReset {
  const policy = deps.policy ?? RESET_THROTTLE_POLICY;
  const pending = new Set<Promise<void>>();
  const wait = (resetsAt: Date) => Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));

  /** Issues the token and queues the message; the link carries nothing but the token. */
  const sendLink = async (accountId: string, email: string, locale: Locale, interaction: string | undefined) => {
    const token = await deps.links.issue('reset_password', accountId, {
      ttlSeconds: RESET_LINK_MINUTES * 60,
      // The pending sign-in this reset came from, if any: the done page offers to go back to it.
      ...(interaction ? { data: { interaction } } : {}),
    });
    const link = `${deps.issuer}/account/reset-password?${new URLSearchParams({ token, ui_locales: locale })}`;
    deps.mailer.send({ kind: 'reset_password', to: email, locale, data: { link, minutes: RESET_LINK_MINUTES }, accountId });
    return new Date(Date.now() + RESET_LINK_MINUTES * 60_000);
  };

  const liveAccount = async (token: unknown, redeem: boolean) => {
    const target = redeem ? await deps.links.redeem('reset_password', String(token)) : await deps.links.inspect('reset_password', String(token));
    if (!target) return undefined;
    // Disabled since the link was sent: the link no longer works.
    const account = await deps.accounts.findActive(target.accountId);
    return account && { account, data: target.data };
  };

  return {
    enabled: deps.mailer.enabled,

    async throttle(email, ip) {
      const keys = [resetThrottleKey(email), `password-reset:${ipKey(ip)}`];
      const [address, from] = (await deps.throttleStore.recordFailures(keys, policy.windowSeconds)) as [ThrottleState, ThrottleState];
      return Math.max(
        address.failures > policy.maxAddressRequests ? wait(address.resetsAt) : 0,
        from.failures > policy.maxIpRequests ? wait(from.resetsAt) : 0,
      );
    },

    requestInBackground({ email, locale, interaction, after, ...seen }) {
      const work = (async () => {
        // Off the request's path: the caller passes the answer's end (`after`), so none of this
        // work (the lookup, the token, rendering the message) runs before the answer has left.
        await after;
        await new Promise((resolve) => setImmediate(resolve));
        const id = await deps.accounts.idForEmail(email);
        const account = id ? await deps.accounts.findActive(id) : undefined;
        // Unknown and disabled addresses get nothing; the trail names the account when there is one.
        if (account) await sendLink(account.id, account.email, locale, interaction);
        await deps.audit.record('password.reset_requested', {
          accountId: id, ip: seen.ip, userAgent: seen.userAgent,
          details: { via: 'forgot password page', sent: Boolean(account) },
        });
      })().catch((err: unknown) => {
        deps.logger.error({ err: { message: (err as Error)?.message } }, 'password reset request failed: no link sent');
      });
      pending.add(work);
      void work.finally(() => pending.delete(work));
    },

    async sendFor(accountId, locale, seen) {
      const view = await deps.accounts.get(accountId);
      if (view.disabled) throw new ConflictError('the account is disabled: enable it before sending a reset link');
      if (!deps.mailer.enabled) throw new MailUnavailableError();
      const expires = await sendLink(view.id, view.email, locale, undefined);
      await deps.audit.record('password.reset_requested', {
        accountId: view.id, actor: seen.actor, ip: seen.ip, userAgent: seen.userAgent, details: { via: seen.via ?? 'admin', sent: true },
      });
      return { account: view.id, expires_at: expires.toISOString() };
    },

    inspect: async (token) => (await liveAccount(token, false)) !== undefined,

    async complete(token, password, seen) {
      if (!passwordSchema.safeParse({ password }).success) return { ok: false, reason: 'invalid_password' };
      // Redeemed before the password is set: of two posts of one link (two tabs,
      // two passwords), only one may set it. Should the write then fail, the
      // link is spent and the password unchanged: the person asks for another.
      const live = await liveAccount(token, true);
      if (!live) return { ok: false, reason: 'invalid_link' };
      const accountId = live.account.id;
      try {
        await deps.accounts.setPassword(accountId, password);
      } catch (err) {
        if (err instanceof NotFoundError) return { ok: false, reason: 'invalid_link' };
        throw err;
      }
      // setPassword also revoked the account's other links (an older reset, a pending e-mail change),
      // sent while the old password may have been known.
      const ended = await deps.sessions.endEverything(accountId);
      // The link reached the address: it is proven now. An address nobody had proven may have been
      // claimed by someone else first (a sign-up, or an upstream that does not verify addresses),
      // who may have linked their own upstream account to it: those links go with the sessions.
      let unlinked = 0;
      if (!live.account.emailVerified) {
        await deps.accounts.update(accountId, { email_verified: true });
        unlinked = await deps.identities?.unlinkAllUnproven(accountId, seen) ?? 0;
      }
      await deps.audit.record('password.reset', { accountId, ip: seen.ip, userAgent: seen.userAgent, details: { ...ended, ...(unlinked ? { unlinked_identities: unlinked } : {}), ...(!live.account.emailVerified ? { email_verified: true } : {}) } });
      const interaction = live.data?.interaction;
      return { ok: true, accountId, ended, ...(typeof interaction === 'string' && INTERACTION_UID.test(interaction) ? { interaction } : {}) };
    },

    async idle() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}

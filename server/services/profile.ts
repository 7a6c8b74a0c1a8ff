// What a signed-in person changes about themself on the account page
// (issue 14, point 4): their name, their password, their e-mail address.
// Each check of the current password counts against the login form's
// throttle (per address and per IP), so the page is no faster a way to guess
// a password than the login form.
//
// An e-mail change takes effect only once confirmed from the new address: a
// `change_email` link (services/account-links.ts, carrying the new address)
// goes there; opening it and pressing the button sets the address, verified.
// A taken address is never named as taken to the person asking: the page
// answers "a link is on its way" either way, a token is issued either way
// (so the supersession of an earlier link tells nothing), and no message goes
// to an address another account holds (mail its owner did not ask for). At
// confirmation, when the address was taken in the meantime (a race), the
// page says so: by then the person has shown that the mailbox is theirs.
//
// The message (`confirm_email_change`) carries no text of the requester's
// (no name): whoever asks writes to a stranger's mailbox. Sends are
// throttled per account, as the verification link's are. Confirming takes
// the link AND being signed in as the account that asked: a stranger who
// presses the button in mail they did not expect attaches nothing to
// anyone's account.
import { z } from 'zod';
import { ConflictError } from '../errors.ts';
import type { Locale } from '../i18n.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { AccountRepository, StoredAccount } from '../repositories/account-repository.ts';
import type { AccountLinks } from './account-links.ts';
import { newAccountInput, passwordReset, type AccountService } from './accounts.ts';
import type { Audit } from './audit.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { LoginThrottleRepository } from '../repositories/login-throttle-repository.ts';
import type { EndedSessions, SessionService } from './sessions.ts';

/** How long a link to confirm a new address works. */
export const CHANGE_EMAIL_LINK_MINUTES = 60;

/** Requests for a new address, per account: three per 15 minutes (the janitor's counter window). */
export const CHANGE_EMAIL_SEND_POLICY = { windowSeconds: 15 * 60, max: 3 } as const;

/** The person at the page: who, from where, in which language. */
export interface Requester {
  account: StoredAccount;
  /** The uid of the session they use now (kept by a password change). */
  sessionUid: string;
  ip: string;
  userAgent?: string;
  locale: Locale;
}

/** Why a password check refused: `throttled` (retry after `seconds`) or `wrong_password`. */
export type PasswordRefusal = { refused: 'throttled'; seconds: number } | { refused: 'wrong_password' };

export type NameChange = { done: true } | { refused: 'invalid_name' };
export type PasswordChange = { done: true; ended: EndedSessions } | PasswordRefusal | { refused: 'weak_password' };
export type EmailChangeRequest = { done: true } | PasswordRefusal | { refused: 'mail_off' | 'invalid_email' | 'same_email' | 'too_many_email_changes' };
export type EmailChangeConfirmation = { done: true; email: string } | { refused: 'invalid_link' | 'email_taken' | 'other_account' };

export interface Profile {
  /** Whether an e-mail change can be asked for (mail is configured). */
  readonly emailChangeAvailable: boolean;
  rename(who: Requester, name: string): Promise<NameChange>;
  changePassword(who: Requester, current: string, next: string): Promise<PasswordChange>;
  requestEmailChange(who: Requester, password: string, newEmail: string): Promise<EmailChangeRequest>;
  /** The new address a live change link names (for the page a GET shows), without using the link. */
  inspectEmailChange(token: string): Promise<{ email: string; accountId: string } | undefined>;
  /** Only for the account that asked (`accountId`: who is signed in); another account's link is `other_account` and stays unused. */
  confirmEmailChange(token: string, seen: { accountId: string; ip: string; userAgent?: string; locale: Locale }): Promise<EmailChangeConfirmation>;
  /** The password check behind every change that asks for it (also the deletion page's). */
  checkPassword(who: Requester, password: string): Promise<PasswordRefusal | undefined>;
}

const nameInput = z.string().trim().max(200).regex(/^[^\p{Cc}]*$/u);
const emailInput = newAccountInput.shape.email;

export function createProfile(deps: {
  issuer: string;
  accounts: AccountService;
  accountRepository: AccountRepository;
  sessions: SessionService;
  links: AccountLinks;
  mailer: Mailer;
  throttle: LoginThrottle;
  /** The counters behind the per-account throttle of change messages. */
  counters: Pick<LoginThrottleRepository, 'recordFailures'>;
  audit: Audit;
}): Profile {
  const seenAt = (who: Pick<Requester, 'ip' | 'userAgent'>) => ({ ip: who.ip, userAgent: who.userAgent });

  /** Seconds to wait before this account may have another confirmation message sent, or 0. */
  const sendThrottle = async (accountId: string): Promise<number> => {
    const [state] = await deps.counters.recordFailures([`change-email:${accountId}`], CHANGE_EMAIL_SEND_POLICY.windowSeconds);
    return state && state.failures > CHANGE_EMAIL_SEND_POLICY.max ? Math.max(1, Math.ceil((state.resetsAt.getTime() - Date.now()) / 1000)) : 0;
  };

  const checkPassword: Profile['checkPassword'] = async (who, password) => {
    const wait = await deps.throttle.attempt(who.account.email, who.ip);
    if (wait > 0) return { refused: 'throttled', seconds: wait };
    const result = await deps.accounts.authenticate(who.account.email, password);
    if (!result.ok || result.account.id !== who.account.id) return { refused: 'wrong_password' };
    await deps.throttle.succeeded(who.account.email, who.ip);
    return undefined;
  };

  return {
    emailChangeAvailable: deps.mailer.enabled,
    checkPassword,

    async rename(who, name) {
      const parsed = nameInput.safeParse(name);
      if (!parsed.success) return { refused: 'invalid_name' };
      // An empty name clears it.
      await deps.accounts.update(who.account.id, { name: parsed.data || null });
      // Which fields, never their values: the trail outlives the account's personal data.
      await deps.audit.record('profile.updated', { accountId: who.account.id, ...seenAt(who), details: { fields: ['name'], by: 'account page' } });
      return { done: true };
    },

    async changePassword(who, current, next) {
      if (!passwordReset.safeParse({ password: next }).success) return { refused: 'weak_password' };
      const refusal = await checkPassword(who, current);
      if (refusal) return refusal;
      // Hashes it and revokes the account's unused e-mailed links (services/accounts.ts).
      await deps.accounts.setPassword(who.account.id, next);
      // Whoever else knew the old password loses what it opened: other sessions and their refresh tokens.
      const ended = await deps.sessions.endOtherSessions(who.account.id, who.sessionUid);
      await deps.audit.record('password.changed', { accountId: who.account.id, ...seenAt(who), details: { ...ended, by: 'account page' } });
      return { done: true, ended };
    },

    async requestEmailChange(who, password, newEmail) {
      if (!deps.mailer.enabled) return { refused: 'mail_off' };
      const parsed = emailInput.safeParse(newEmail);
      if (!parsed.success) return { refused: 'invalid_email' };
      const email = parsed.data;
      if (email === who.account.email) return { refused: 'same_email' };
      const refusal = await checkPassword(who, password);
      if (refusal) return refusal;
      if (await sendThrottle(who.account.id) > 0) return { refused: 'too_many_email_changes' };
      // Issued whether or not the address is taken: the same work and the same
      // supersession of an earlier link either way (see the top of this file).
      const token = await deps.links.issue('change_email', who.account.id, { ttlSeconds: CHANGE_EMAIL_LINK_MINUTES * 60, data: { email } });
      if (await deps.accountRepository.findByEmail(email)) return { done: true };
      deps.mailer.send({
        kind: 'confirm_email_change', to: email, locale: who.locale, accountId: who.account.id,
        data: { link: `${deps.issuer}/account/confirm-email?token=${token}`, minutes: CHANGE_EMAIL_LINK_MINUTES },
      });
      return { done: true };
    },

    async inspectEmailChange(token) {
      const target = await deps.links.inspect('change_email', token);
      const email = target?.data?.email;
      return target && typeof email === 'string' ? { email, accountId: target.accountId } : undefined;
    },

    async confirmEmailChange(token, seen) {
      const asked = await deps.links.inspect('change_email', token);
      if (asked && asked.accountId !== seen.accountId) return { refused: 'other_account' };
      const target = await deps.links.redeem('change_email', token);
      const email = target?.data?.email;
      if (!target || typeof email !== 'string') return { refused: 'invalid_link' };
      const before = await deps.accountRepository.findById(target.accountId);
      if (!before || before.disabled) return { refused: 'invalid_link' };
      let after: StoredAccount | undefined;
      try {
        after = await deps.accountRepository.setEmail(before.id, email);
      } catch (err) {
        if (err instanceof ConflictError) return { refused: 'email_taken' };
        throw err;
      }
      if (!after) return { refused: 'invalid_link' };
      // Links sent to the old address (a verification, a password reset) must
      // not act on the account once the address is no longer theirs.
      await deps.links.revokeAll(before.id);
      deps.mailer.send({ kind: 'email_changed', to: before.email, locale: seen.locale, accountId: before.id, data: { newEmail: email } });
      await deps.audit.record('email.changed', { accountId: before.id, ip: seen.ip, userAgent: seen.userAgent, details: { by: 'confirmation link' } });
      return { done: true, email };
    },
  };
}

// The account page's profile forms (issue 14, point 4), beside the page
// itself (account.ts), under <issuer path>/account:
//   POST /profile/name       change the name
//   POST /profile/password   change the password (asks the current one)
//   POST /profile/email      ask to change the address (asks the password; mails a link to the new one)
//   GET  /confirm-email      the link from that message: shows the new address and a button
//   POST /confirm-email      the button: the address changes, verified
//   GET  /delete             asks for the password before deleting the account
//   POST /delete             deletes it; the browser ends signed out on a notice page
// Each form on the signed-in pages carries the account session's CSRF token
// (account-session.ts) and answers with a redirect back to the page, which
// shows the outcome (`?profile=<outcome>`, one of a fixed list of strings).
//
// The confirmation link takes both the link's token (only the reader of the
// new mailbox has it) and being signed in as the account that asked: a
// stranger who presses the button in mail they did not expect attaches
// nothing. Signed out, or as another account, the page says to sign in to
// the account that asked and open the link again. Its GET changes nothing
// (mail scanners fetch links); the POST carries the session's CSRF token.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Locale } from '../i18n.ts';
import type { AccountDeletion } from '../services/account-deletion.ts';
import type { Profile, Requester } from '../services/profile.ts';
import type { Pages } from '../views/pages.ts';
import { accountSession, type AccountSessionDependencies, type SignedIn } from './account-session.ts';

interface Dependencies extends AccountSessionDependencies {
  profile: Profile;
  deletion: AccountDeletion;
}

/** What `?profile=` may say on the account page: each has a string `profile.outcome.<key>`, and those from `ERROR_OUTCOMES` show as errors. */
export const PROFILE_OUTCOMES = [
  'name_saved', 'password_changed', 'email_link_sent',
  'invalid_name', 'wrong_password', 'throttled', 'too_many_email_changes', 'weak_password', 'invalid_email', 'same_email', 'mail_off',
] as const;
const ERROR_OUTCOMES = new Set<string>(PROFILE_OUTCOMES.slice(3));

/** The profile section's data for the account page (account.ts, views/account.eta). */
export function profileSection(ctx: Context, who: SignedIn, profile: Profile, pages: Pages, locale: Locale) {
  const outcome = typeof ctx.query.profile === 'string' && (PROFILE_OUTCOMES as readonly string[]).includes(ctx.query.profile) ? ctx.query.profile : undefined;
  const t = pages.translator(locale);
  return {
    name: who.account.name ?? '',
    emailChange: profile.emailChangeAvailable,
    ...(outcome ? { [ERROR_OUTCOMES.has(outcome) ? 'error' : 'message']: t(`profile.outcome.${outcome}`) } : {}),
  };
}

const field = (ctx: Context, name: string) => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  // Longer than any field of these forms: refused as it is (no argon2id work on a megabyte).
  return typeof value === 'string' && value.length <= 1024 ? value : '';
};

export function accountProfileRoutes(deps: Dependencies): Router {
  const base = `${deps.prefix}/account`;
  const router = new Router();
  const { current, signInFirst, authorised, csrfFor } = accountSession(deps);

  const requester = (ctx: Context, who: SignedIn): Requester => ({
    account: who.account, sessionUid: String(who.session.uid), ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, locale: deps.pages.localeOf(ctx),
  });
  const backWith = (ctx: Context, outcome: (typeof PROFILE_OUTCOMES)[number]) => {
    ctx.status = 303;
    ctx.redirect(`${base}?profile=${outcome}#profile`);
  };
  const outcomeOf = (result: { done: true } | { refused: string }, done: (typeof PROFILE_OUTCOMES)[number]) =>
    ('done' in result ? done : result.refused) as (typeof PROFILE_OUTCOMES)[number];

  router.post('/profile/name', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    backWith(ctx, outcomeOf(await deps.profile.rename(requester(ctx, who), field(ctx, 'name')), 'name_saved'));
  });

  router.post('/profile/password', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const result = await deps.profile.changePassword(requester(ctx, who), field(ctx, 'current_password'), field(ctx, 'new_password'));
    backWith(ctx, outcomeOf(result, 'password_changed'));
  });

  router.post('/profile/email', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const result = await deps.profile.requestEmailChange(requester(ctx, who), field(ctx, 'password'), field(ctx, 'email'));
    backWith(ctx, outcomeOf(result, 'email_link_sent'));
  });

  /** The change link, opened signed out or as another account: sign in to the account that asked, then open it again. */
  const signInToConfirm = (ctx: Context, locale: Locale) =>
    deps.pages.notice(ctx, 'profile_email_sign_in', { status: 403, locale, link: { href: base, label: 'profile.toAccount' } });

  const confirmPage = (ctx: Context, locale: Locale, data: Record<string, unknown>, status = 200) => {
    const t = deps.pages.translator(locale);
    deps.pages.render(ctx, 'account-confirm', locale, { cancel: { href: base, label: t('profile.cancel') }, ...data }, status);
  };

  router.get('/confirm-email', async (ctx) => {
    const locale = deps.pages.localeOf(ctx);
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const change = await deps.profile.inspectEmailChange(token);
    if (!change) return deps.pages.notice(ctx, 'profile_link_invalid', { status: 400, locale });
    const who = await current(ctx);
    if (who?.account.id !== change.accountId) return signInToConfirm(ctx, locale);
    const t = deps.pages.translator(locale);
    confirmPage(ctx, locale, {
      title: t('profile.confirmEmail.title'),
      message: t('profile.confirmEmail.message', { email: change.email }),
      action: `${base}/confirm-email`,
      hidden: { token, csrf: csrfFor(who) },
      button: t('profile.confirmEmail.button'),
    });
  });

  router.post('/confirm-email', async (ctx) => {
    const locale = deps.pages.localeOf(ctx);
    const who = await authorised(ctx);
    if (!who) return;
    const result = await deps.profile.confirmEmailChange(field(ctx, 'token'), { accountId: who.account.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, locale });
    if ('refused' in result) {
      if (result.refused === 'other_account') return signInToConfirm(ctx, locale);
      return deps.pages.notice(ctx, result.refused === 'email_taken' ? 'profile_email_taken' : 'profile_link_invalid', { status: result.refused === 'email_taken' ? 409 : 400, locale });
    }
    deps.pages.notice(ctx, 'profile_email_changed', { locale, vars: { email: result.email }, link: { href: base, label: 'profile.toAccount' } });
  });

  const deletePage = (ctx: Context, who: SignedIn, error?: string, status?: number) => {
    const locale = deps.pages.localeOf(ctx);
    const t = deps.pages.translator(locale);
    confirmPage(ctx, locale, {
      title: t('profile.delete.title'),
      message: t('profile.delete.warning', { email: who.account.email }),
      action: `${base}/delete`,
      hidden: { csrf: csrfFor(who) },
      password: t('profile.delete.password'),
      button: t('profile.delete.button'),
      danger: true,
      ...(error ? { error } : {}),
    }, status);
  };

  router.get('/delete', async (ctx) => {
    const who = await current(ctx);
    if (!who) return signInFirst(ctx);
    deletePage(ctx, who);
  });

  router.post('/delete', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const asker = requester(ctx, who);
    const refusal = await deps.profile.checkPassword(asker, field(ctx, 'password'));
    if (refusal) {
      const t = deps.pages.translator(asker.locale);
      if (refusal.refused === 'throttled') ctx.set('Retry-After', String(refusal.seconds));
      return deletePage(ctx, who, t(`profile.outcome.${refusal.refused}`), refusal.refused === 'throttled' ? 429 : 401);
    }
    await deps.deletion.delete(who.account.id, { by: 'account page', ip: asker.ip, userAgent: asker.userAgent, locale: asker.locale });
    deps.pages.notice(ctx, 'account_deleted', { locale: asker.locale });
  });

  return router;
}

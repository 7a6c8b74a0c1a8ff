// The verification link's pages, mounted at <issuer path>/account/verify-email
// (app.ts), and the account page's "send the link again":
//   GET  /?token=…   inspects the link and shows a button; never uses it (mail
//                    scanners fetch links before the person does)
//   POST /           uses it: the address is verified, audited, a notice says so
//   POST /send       signed in (account session + its CSRF token): a new link, throttled
//
// The confirm form is for someone who may not be signed in, so its CSRF token
// is bound to the link token it carries (an HMAC under the cookie secrets, as
// the interaction pages bind theirs to the interaction): only a page this
// server rendered for that link can post it. Whoever holds the link could
// post it anyway; the token keeps other sites' forms from doing it in the
// person's browser.
//
// A used, expired, tampered or superseded link is one page (410): the pages
// never say which, nor whose link it was. Every answer is no-store
// (pages.render) and Referrer-Policy: no-referrer (koa-security-headers), so
// the token in the URL leaves in no cache and no Referer.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Audit } from '../services/audit.ts';
import type { EmailVerification } from '../services/email-verification.ts';
import { accountSession, type AccountSessionDependencies } from './account-session.ts';

export interface EmailVerificationRouteDependencies extends AccountSessionDependencies {
  audit: Audit;
  emailVerification: EmailVerification;
}

/** The path below the issuer where these routes are mounted. */
export const EMAIL_VERIFICATION_PATH = '/account/verify-email';

export function emailVerificationRoutes(deps: EmailVerificationRouteDependencies): Router {
  const self = `${deps.prefix}${EMAIL_VERIFICATION_PATH}`;
  const accountPage = `${deps.prefix}/account`;
  const toAccount = { href: accountPage, label: 'verify.toAccount' };
  const { authorised } = accountSession(deps);
  const csrfSubject = (token: string) => `verify-email:${token}`;
  const seen = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });

  /** A link that does not work, whatever the reason. A missing token is a malformed request (400); any other, gone (410). */
  const invalidLink = (ctx: Context, token: unknown) =>
    deps.pages.notice(ctx, 'verify_link_invalid', { status: typeof token === 'string' && token ? 410 : 400, link: toAccount });

  // Mounted at `self` (app.ts): the routes below are relative to it.
  const router = new Router();

  router.get('/', async (ctx) => {
    const token = ctx.query.token;
    const account = typeof token === 'string' ? await deps.emailVerification.inspect(token) : undefined;
    if (!account || typeof token !== 'string') return invalidLink(ctx, token);
    if (account.emailVerified) return deps.pages.notice(ctx, 'verify_done', { vars: { email: account.email }, link: toAccount });
    deps.pages.render(ctx, 'verify-email', deps.pages.localeOf(ctx), { action: self, token, csrf: deps.csrf.tokenFor(csrfSubject(token)), email: account.email });
  });

  router.post('/', async (ctx) => {
    const { token, csrf } = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (typeof token !== 'string' || !token) return invalidLink(ctx, token);
    if (!deps.csrf.verify(csrfSubject(token), csrf)) return deps.pages.error(ctx, 'csrf', 403);
    const confirmed = await deps.emailVerification.confirm(token);
    if (!confirmed) return invalidLink(ctx, token);
    const { account, newlyVerified } = confirmed;
    if (newlyVerified) await deps.audit.record('email.verified', { accountId: account.id, ...seen(ctx), details: { by: 'link' } });
    deps.pages.notice(ctx, 'verify_done', { vars: { email: account.email }, link: toAccount });
  });

  router.post('/send', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const outcome = await deps.emailVerification.send(who.account, deps.pages.localeOf(ctx));
    if (outcome.sent) {
      await deps.audit.record('email.verification_sent', { accountId: who.account.id, ...seen(ctx), details: { by: 'account page' } });
      return deps.pages.notice(ctx, 'verify_sent', { vars: { email: who.account.email }, link: toAccount });
    }
    if (outcome.reason === 'already_verified') {
      ctx.status = 303;
      return ctx.redirect(accountPage);
    }
    if (outcome.reason === 'mail_off') return deps.pages.notice(ctx, 'verify_unavailable', { status: 503, link: toAccount });
    ctx.set('Retry-After', String(outcome.retryAfter));
    deps.pages.notice(ctx, 'verify_throttled', { status: 429, vars: { minutes: Math.ceil(outcome.retryAfter / 60) }, link: toAccount });
  });

  return router;
}

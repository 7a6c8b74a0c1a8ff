// Forgotten password (issue 14): the pages a signed-out person uses,
// mounted at <issuer path>/account beside the account page (app.ts).
//   GET  /forgot-password   the form (an e-mail address)
//   POST /forgot-password   throttled (429), then ALWAYS the same "if an account exists…" page;
//                           the account's work runs after the answer (services/password-reset.ts)
//   GET  /reset-password    the link from the message: checks the token, shows the new-password form;
//                           spends nothing (mail scanners fetch links)
//   POST /reset-password    redeems the token, sets the password, ends everything; a bad password
//                           shows the form again with the token unspent
//
// CSRF: these forms have no session and no interaction to bind to. A random
// per-browser cookie (SameSite=Lax, HttpOnly, path /account) is set by the
// GET, and the form's token is an HMAC of it (services/csrf.ts): a post
// from another site carries neither the cookie's value nor its HMAC.
// Referrer-Policy: no-referrer is on every response already
// (middleware/koa-security-headers.ts) and pages are no-store (views/pages.ts),
// so the token in the reset link's URL leaks neither through Referer nor caches.
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Locale } from '../i18n.ts';
import type { Csrf } from '../services/csrf.ts';
import { forgotPasswordForm, type PasswordReset } from '../services/password-reset.ts';
import type { Pages } from '../views/pages.ts';

export interface PasswordResetRouteDependencies {
  reset: PasswordReset;
  csrf: Csrf;
  pages: Pages;
  /** ISSUER's path ('' at the root). */
  prefix: string;
  /** Parses the form posts (app.ts's formBody). */
  formBody: Middleware;
}

const CSRF_COOKIE = 'tollgate.reset';
const cookieValue = /^[A-Za-z0-9_-]{22}$/;

const resetForm = z.object({
  token: z.string().max(100),
  password: z.string().max(4096),
});

export function passwordResetRoutes(deps: PasswordResetRouteDependencies): Router {
  const { pages, prefix } = deps;
  const router = new Router();
  const t = (locale: Locale) => pages.translator(locale);
  const body = (ctx: Context) => (ctx.request.body ?? {}) as Record<string, unknown>;
  const localeOf = (ctx: Context) => pages.localeOf(ctx, ctx.method === 'POST' ? body(ctx).ui_locales : ctx.query.ui_locales);

  /** This browser's CSRF cookie, set when absent; the form's token is bound to it. */
  const csrfToken = (ctx: Context) => {
    let value = ctx.cookies.get(CSRF_COOKIE);
    if (!value || !cookieValue.test(value)) {
      value = randomBytes(16).toString('base64url');
      ctx.cookies.set(CSRF_COOKIE, value, { httpOnly: true, sameSite: 'lax', path: `${prefix}/account`, signed: false, overwrite: true });
    }
    return deps.csrf.tokenFor(`password-reset:${value}`);
  };
  const csrfValid = (ctx: Context) => {
    const value = ctx.cookies.get(CSRF_COOKIE);
    return Boolean(value && cookieValue.test(value) && deps.csrf.verify(`password-reset:${value}`, body(ctx).csrf));
  };

  /** Where "back to sign in" goes: the application's pending sign-in it came from, or the account page. */
  const signInHref = (interaction: string | undefined) => (interaction ? `${prefix}/interaction/${interaction}` : `${prefix}/account`);

  const renderForgot = (ctx: Context, locale: Locale, form: { email?: string; interaction?: string }, error?: string, status = 200) => {
    pages.render(ctx, 'forgot-password', locale, {
      action: `${prefix}/account/forgot-password`,
      csrf: csrfToken(ctx),
      locale,
      email: form.email ?? '',
      interaction: form.interaction,
      backHref: signInHref(form.interaction),
      error,
    }, status);
  };

  const renderReset = (ctx: Context, locale: Locale, token: string, error?: string, status = 200) => {
    pages.render(ctx, 'reset-password', locale, { action: `${prefix}/account/reset-password`, csrf: csrfToken(ctx), locale, token, error }, status);
  };

  const unavailable = (ctx: Context, locale: Locale) => pages.notice(ctx, 'reset_unavailable', { locale, status: 503 });
  const invalidLink = (ctx: Context, locale: Locale) => pages.notice(ctx, 'reset_invalid', {
    locale, status: 400, link: { href: `${prefix}/account/forgot-password?ui_locales=${locale}`, label: 'reset.requestAgain' },
  });

  router.get('/forgot-password', (ctx) => {
    const locale = localeOf(ctx);
    if (!deps.reset.enabled) return unavailable(ctx, locale);
    const interaction = forgotPasswordForm.shape.interaction.parse(ctx.query.interaction);
    renderForgot(ctx, locale, { interaction });
  });

  router.post('/forgot-password', deps.formBody, async (ctx) => {
    const locale = localeOf(ctx);
    if (!csrfValid(ctx)) return pages.error(ctx, 'csrf', 403, locale);
    if (!deps.reset.enabled) return unavailable(ctx, locale);
    const form = forgotPasswordForm.safeParse(body(ctx));
    if (!form.success || !z.email().safeParse(form.data.email).success) {
      const raw = body(ctx);
      return renderForgot(ctx, locale, { email: typeof raw.email === 'string' ? raw.email.slice(0, 320) : '' }, t(locale)('reset.invalidEmail'), 400);
    }
    const { email, interaction } = form.data;
    const wait = await deps.reset.throttle(email, ctx.ip);
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      return renderForgot(ctx, locale, { email, interaction }, t(locale)('reset.throttled', { minutes: Math.ceil(wait / 60) }), 429);
    }
    // Not awaited, and started once the answer has been written ('close' follows 'finish', and
    // also comes when the client goes away): nothing about the address is looked up before.
    const answered = new Promise<void>((resolve) => ctx.res.once('close', () => resolve()));
    deps.reset.requestInBackground({ email, locale, interaction, after: answered, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });
    pages.notice(ctx, 'reset_sent', { locale, link: { href: signInHref(interaction), label: 'reset.backToSignIn' } });
  });

  router.get('/reset-password', async (ctx) => {
    const locale = localeOf(ctx);
    const token = ctx.query.token;
    if (typeof token !== 'string' || !(await deps.reset.inspect(token))) return invalidLink(ctx, locale);
    renderReset(ctx, locale, token);
  });

  router.post('/reset-password', deps.formBody, async (ctx) => {
    const locale = localeOf(ctx);
    if (!csrfValid(ctx)) return pages.error(ctx, 'csrf', 403, locale);
    const form = resetForm.safeParse(body(ctx));
    if (!form.success) return invalidLink(ctx, locale);
    const outcome = await deps.reset.complete(form.data.token, form.data.password, { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });
    if (!outcome.ok) {
      if (outcome.reason === 'invalid_password') return renderReset(ctx, locale, form.data.token, t(locale)('reset.invalidPassword'), 400);
      return invalidLink(ctx, locale);
    }
    pages.notice(ctx, 'reset_done', {
      locale, link: { href: signInHref(outcome.interaction), label: outcome.interaction ? 'reset.continueSignIn' : 'reset.signIn' },
    });
  });

  return router;
}

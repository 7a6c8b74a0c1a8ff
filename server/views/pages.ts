// Rendering of the hosted pages: language negotiation, no-store, and the
// error, logout and logged-out pages oidc-provider asks us for.
import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { negotiateLocale, type Locale, type Translate } from '../i18n.ts';
import type { ProviderPages } from '../oidc/configuration.ts';
import type { Views } from './views.ts';

export interface Pages {
  render(ctx: Context, name: string, locale: Locale, data: Record<string, unknown>, status?: number): void;
  /** A friendly error page in the request's language; `code` picks a localized message when one exists. */
  error(ctx: Context, code: string, status: number, locale?: Locale): void;
  /**
   * A page that tells the person one thing (a link sent, a link expired, a
   * change made): its title and message are the strings `notice.<key>.title`
   * and `notice.<key>.message` (with `vars`), and an optional link onwards.
   */
  notice(ctx: Context, key: string, options?: NoticeOptions): void;
  localeOf(ctx: Context, uiLocales?: unknown): Locale;
  /** The pages' strings in one language (a theme's over the built-in ones), for messages the routes put on a page. */
  translator(locale: Locale): Translate;
  readonly provider: ProviderPages;
}

export interface NoticeOptions {
  locale?: Locale;
  status?: number;
  vars?: Record<string, string | number>;
  /** `label` is a string key too. */
  link?: { href: string; label: string };
}

/** `issuer`: the public URL; the logout page names its host (never the request's Host header). */
export function createPages(views: Views, issuer: string): Pages {
  const issuerHost = new URL(issuer).host;
  const localeOf = (ctx: Context, uiLocales?: unknown) => negotiateLocale(uiLocales, ctx.get('accept-language') || undefined);

  const render: Pages['render'] = (ctx, name, locale, data, status = 200) => {
    ctx.status = status;
    // Pages carry per-user state and CSRF tokens: never cached (RFC 9111 §5.2.2.5).
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Language', locale);
    ctx.type = 'html';
    ctx.body = views.render(name, locale, data);
  };

  const error: Pages['error'] = (ctx, code, status, locale = localeOf(ctx)) => {
    const t = views.translator(locale);
    const key = `error.${code}`;
    const message = t(key) === key ? t('error.generic') : t(key);
    render(ctx, 'error', locale, { error: code, message }, status);
  };

  const notice: Pages['notice'] = (ctx, key, options = {}) => {
    const locale = options.locale ?? localeOf(ctx);
    const t = views.translator(locale);
    render(ctx, 'notice', locale, {
      title: t(`notice.${key}.title`),
      message: t(`notice.${key}.message`, options.vars),
      link: options.link && { href: options.link.href, label: t(options.link.label) },
    }, options.status);
  };

  const oidcLocale = (ctx: KoaContextWithOIDC) => localeOf(ctx, ctx.oidc?.params?.ui_locales);

  return {
    render,
    error,
    notice,
    localeOf,
    translator: views.translator,
    provider: {
      error: (ctx, out) => error(ctx, out.error, ctx.status >= 400 ? ctx.status : 400, oidcLocale(ctx)),
      logout: (ctx, form) => {
        const client = ctx.oidc.client;
        render(ctx, 'logout', oidcLocale(ctx), { form, host: issuerHost, clientName: client?.clientName ?? client?.clientId });
      },
      logoutDone: (ctx) => render(ctx, 'logout-done', oidcLocale(ctx), {}),
    },
  };
}

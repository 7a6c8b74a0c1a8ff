// What every interaction handler needs: the live interaction for this
// browser (or a friendly page when there is none), its language and client,
// and CSRF checking bound to it.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Locale } from '../../i18n.ts';
import type { AccountService } from '../../services/accounts.ts';
import type { Csrf } from '../../services/csrf.ts';
import type { LoginThrottle } from '../../services/login-throttle.ts';
import type { Pages } from '../pages.ts';
import type { Audit } from '../../services/audit.ts';

export interface InteractionDependencies {
  provider: Provider;
  accounts: AccountService;
  throttle: LoginThrottle;
  csrf: Csrf;
  pages: Pages;
  prefix: string;
  signupEnabled: boolean;
  audit: Audit;
  /** Called once a person has proven who they are, before the session is made (the concurrent-login policy). */
  onSignIn: (accountId: string) => Promise<void>;
}

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface Loaded {
  interaction: Interaction;
  locale: Locale;
  clientName: string | undefined;
  /** This interaction's base path, for form actions. */
  base: string;
  csrf: string;
}

/**
 * The interaction bound to this browser's interaction cookie and named in the
 * URL. An unknown, expired, finished or foreign one is shown as a page here,
 * never redirected anywhere (RFC 9700 §4.11: no open redirects).
 */
export async function loadInteraction(ctx: Context, deps: InteractionDependencies): Promise<Loaded | undefined> {
  let interaction: Interaction;
  try {
    interaction = await deps.provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    deps.pages.error(ctx, 'login_expired', 400);
    return undefined;
  }
  if (interaction.uid !== ctx.params.uid) {
    deps.pages.error(ctx, 'login_expired', 400);
    return undefined;
  }
  const client = await deps.provider.Client.find(String(interaction.params.client_id));
  return {
    interaction,
    locale: deps.pages.localeOf(ctx, interaction.params.ui_locales),
    clientName: client?.clientName ?? client?.clientId,
    base: `${deps.prefix}/interaction/${interaction.uid}`,
    csrf: deps.csrf.tokenFor(interaction.uid),
  };
}

/** A form post must carry this interaction's CSRF token; a tampered or missing one gets a 403 page. */
export function checkCsrf(ctx: Context, deps: InteractionDependencies, loaded: Loaded): boolean {
  const token = (ctx.request.body as Record<string, unknown> | undefined)?.csrf;
  if (deps.csrf.verify(loaded.interaction.uid, token)) return true;
  deps.pages.error(ctx, 'csrf', 403, loaded.locale);
  return false;
}

/** Hands a result back to oidc-provider and sends the browser on with 303 (RFC 9700 §4.12: never 307 after a POST). */
export async function finish(ctx: Context, deps: InteractionDependencies, result: Parameters<Provider['interactionResult']>[2], merge: boolean): Promise<void> {
  const to = await deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  ctx.status = 303;
  ctx.redirect(to);
}

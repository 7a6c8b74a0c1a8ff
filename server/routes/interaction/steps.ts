// The steps every interaction route is made of, in the manner of
// oidc-provider's own actions (lib/actions/token.js): small named
// middlewares, each answering the request itself when its rule fails, or
// putting what it loaded on ctx.state for the next one.
//   loadInteraction   the live interaction of this browser, named in the URL
//   requireCsrf       a form post carries this interaction's CSRF token (403)
//   requirePrompt     the interaction asks for this step (else "login expired")
//   onPrompt          answers with a handler when the interaction asks for a step
//   parseForm         the body is the form it should be (else the handler's page)
//   finish            hands the result back to the provider: 303 to its resume URL
import type { RouterContext, RouterMiddleware } from '@koa/router';
import type { Next } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Locale } from '../../i18n.ts';
import type { SignInAccount, StoredAccount } from '../../repositories/account-repository.ts';
import type { AccountService } from '../../services/accounts.ts';
import type { Audit } from '../../services/audit.ts';
import type { Csrf } from '../../services/csrf.ts';
import type { EmailVerification } from '../../services/email-verification.ts';
import type { LoginThrottle } from '../../services/login-throttle.ts';
import type { SessionService } from '../../services/sessions.ts';
import type { Pages } from '../../views/pages.ts';
import type { FederationDependencies } from './federated.ts';
import type { SecondFactorDependencies } from './second-factor.ts';

export interface InteractionDependencies {
  provider: Provider;
  accounts: AccountService;
  throttle: LoginThrottle;
  csrf: Csrf;
  pages: Pages;
  /** The issuer's path (empty at the root): form actions are absolute paths. */
  prefix: string;
  signupEnabled: boolean;
  /** REMEMBER_ME_DEFAULT: "Keep me signed in" starts checked. */
  rememberMeDefault: boolean;
  audit: Audit;
  /** Its concurrent-login policy runs once a person has proven who they are, before the session is made. */
  sessions: Pick<SessionService, 'beforeSignIn'>;
  /** Sends the verification link at sign-up, and at sign-in under REQUIRE_VERIFIED_EMAIL. */
  emailVerification: EmailVerification;
  /** REQUIRE_VERIFIED_EMAIL: a sign-in completes only with a verified address. */
  requireVerifiedEmail: boolean;
  /** Social login: the providers, the round trip, identities (federated.ts). */
  federation: FederationDependencies;
  /** Second factors, passkeys and MFA_POLICY (second-factor.ts). */
  secondFactor: SecondFactorDependencies;
}

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/** What the steps put on ctx.state, in the order they run. */
export interface InteractionState {
  /** loadInteraction: the interaction, the page language, the client's name, form actions' base path, the CSRF token. */
  interaction: Interaction;
  locale: Locale;
  clientName: string | undefined;
  /** The client is one of ours (`first_party`): it never shows a consent page (consent.ts). */
  firstParty: boolean;
  base: string;
  csrf: string;
  /** parseForm: the body as its schema parsed it. */
  form: unknown;
  /** The account now signed in (checkPassword, createAccount, a social sign-in), for signIn. */
  accountId: string;
  /** checkPassword, createAccount: the account as they have it (roles, whether it has a second factor), for the second-factor step. */
  signingIn?: Pick<SignInAccount, 'id' | 'roles' | 'hasSecondFactor'>;
  /**
   * "Keep me signed in" for this sign-in (issue 18): from the login, sign-up
   * or passkey form, or carried through a social sign-in's round trip; the
   * login result's `remember` (oidc/remember-me.ts).
   */
  remember?: boolean;
  /** checkPassword: the e-mail whose throttle count starts afresh once the sign-in completes. */
  throttledAs?: string;
  /** A social sign-in (federated.ts): the provider, and the `amr` to hand oidc-provider. */
  signedInWith?: { provider: string; amr: string[]; authTime?: number };
  /** The account of the interaction's session (loadSignedInAccount), for consent. */
  account: StoredAccount;
  /** loadPending (second-factor.ts): what the first factor proved, and the account's e-mail (the throttle's key). */
  pending?: { uid: string; accountId: string; methods: string[]; provider?: string; ts?: number; enrolled?: string[]; stepUp?: boolean; remember?: boolean; email: string };
  /** checkSecondFactor / signInWithPasskey: the `amr` values the second factor adds. */
  secondMethods?: string[];
  /** A recovery code was used: how many remain. */
  recoveryCodesLeft?: number;
  /** A factor set up during this sign-in: its `amr` values. */
  enrolledMethods?: string[];
}

export type InteractionContext = RouterContext<InteractionState>;
export type InteractionStep = RouterMiddleware<InteractionState>;

export function interactionSteps(deps: InteractionDependencies) {
  /**
   * The interaction bound to this browser's interaction cookie and named in the
   * URL. An unknown, expired, finished or foreign one is shown as a page here,
   * never redirected anywhere (RFC 9700 §4.11: no open redirects).
   */
  async function loadInteraction(ctx: InteractionContext, next: Next): Promise<void> {
    let interaction: Interaction;
    try {
      interaction = await deps.provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      return deps.pages.error(ctx, 'login_expired', 400);
    }
    if (interaction.uid !== ctx.params.uid) return deps.pages.error(ctx, 'login_expired', 400);
    const client = await deps.provider.Client.find(String(interaction.params.client_id));
    Object.assign(ctx.state, {
      interaction,
      locale: deps.pages.localeOf(ctx, interaction.params.ui_locales),
      clientName: client?.clientName ?? client?.clientId,
      firstParty: (client as { first_party?: unknown } | undefined)?.first_party === true,
      base: `${deps.prefix}/interaction/${interaction.uid}`,
      csrf: deps.csrf.tokenFor(interaction.uid),
    });
    await next();
  }

  /** A form post must carry this interaction's CSRF token; a tampered or missing one gets a 403 page. */
  async function requireCsrf(ctx: InteractionContext, next: Next): Promise<void> {
    const token = (ctx.request.body as Record<string, unknown> | undefined)?.csrf;
    if (!deps.csrf.verify(ctx.state.interaction.uid, token)) return deps.pages.error(ctx, 'csrf', 403, ctx.state.locale);
    await next();
  }

  /** The interaction must be at this prompt: a form from an earlier step (back button, second tab) has expired. */
  function requirePrompt(name: 'login' | 'consent'): InteractionStep {
    return async function requirePromptStep(ctx, next) {
      if (ctx.state.interaction.prompt.name !== name) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
      await next();
    };
  }

  /** When the interaction is at this prompt, `handle` answers; otherwise the chain goes on. */
  function onPrompt(name: 'login' | 'consent', handle: InteractionStep): InteractionStep {
    return function onPromptStep(ctx, next) {
      return ctx.state.interaction.prompt.name === name ? handle(ctx, next) : next();
    };
  }

  /** The body as `schema` parses it, on ctx.state.form; otherwise `reject` answers (the form's page with its error). */
  function parseForm(schema: z.ZodType, reject: (ctx: InteractionContext) => void): InteractionStep {
    return async function parseFormStep(ctx, next) {
      const form = schema.safeParse(ctx.request.body);
      if (!form.success) return reject(ctx);
      ctx.state.form = form.data;
      await next();
    };
  }

  return { loadInteraction, requireCsrf, requirePrompt, onPrompt, parseForm };
}

/**
 * The `remember` field of a sign-in form: a checked checkbox sends `on`; an
 * unchecked one sends nothing, and the hidden copies on the login page's
 * other forms (views/assets/remember-me.js) send an empty value.
 */
export const rememberField = z.string().max(8).optional();

/** Whether a form's `remember` field says "keep me signed in". */
export function rememberChosen(value: unknown): boolean {
  return value === 'on' || value === 'true' || value === '1';
}

/** Hands a result back to oidc-provider and sends the browser on with 303 (RFC 9700 §4.12: never 307 after a POST). */
export async function finish(ctx: InteractionContext, provider: Provider, result: Parameters<Provider['interactionResult']>[2], merge: boolean): Promise<void> {
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  ctx.status = 303;
  ctx.redirect(to);
}

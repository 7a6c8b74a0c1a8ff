// The login and sign-up steps. The same message and the same argon2id work
// answer an unknown e-mail and a wrong password (no account enumeration);
// the throttle answers 429 once an e-mail or an IP has failed too often.
//   showLogin        the login page (also the page of every refusal below)
//   throttleLogin    counts the attempt before the password is checked (429)
//   checkPassword    reads the account once; audits login.success / login.failure
//   requireSignup    sign-up is enabled (else 404)
//   showSignup       the sign-up page
//   throttleSignup   sign-ups count against the IP (429)
//   createAccount    the new account, signed in as it is (no second argon2id); a verification link goes out
//   requireVerifiedEmail  REQUIRE_VERIFIED_EMAIL: an unverified address gets a link (throttled) and a page, no sign-in
//   signIn           the concurrent-login policy, then the login result to the provider
import type { Next } from 'koa';
import { z, ZodError } from 'zod';
import { ConflictError } from '../../errors.ts';
import type { AccountView } from '../../services/accounts.ts';
import { finish, rememberChosen, rememberField, type InteractionContext, type InteractionDependencies } from './steps.ts';
import { federatedSteps } from './federated.ts';
import { isStepUp, secondFactorSteps } from './second-factor.ts';
import { signInLevel } from '../../mfa/sign-in-levels.ts';

export const loginForm = z.object({
  login: z.string().max(320),
  password: z.string().max(1024),
  remember: rememberField,
});
type LoginForm = z.infer<typeof loginForm>;

export const signupForm = z.object({
  name: z.string().max(200).optional(),
  login: z.string().max(320),
  password: z.string().max(1024),
  remember: rememberField,
});
type SignupForm = z.infer<typeof signupForm>;

interface PageOptions { login?: string; name?: string; error?: string; status?: number; remember?: boolean }

export function loginSteps(deps: InteractionDependencies) {
  const federated = federatedSteps(deps);
  const secondFactor = secondFactorSteps(deps);
  const t = (ctx: InteractionContext) => deps.pages.translator(ctx.state.locale);
  const throttled = (ctx: InteractionContext, wait: number) => {
    ctx.set('Retry-After', String(wait));
    return t(ctx)('login.throttled', { minutes: Math.ceil(wait / 60) });
  };

  /** The login page, with an optional error message and status, and a button per enabled upstream provider. */
  async function renderLogin(ctx: InteractionContext, options: PageOptions = {}): Promise<void> {
    const { interaction, base } = ctx.state;
    const [providers, passkeyOptions] = await Promise.all([federated.buttons(ctx), secondFactor.passwordlessOptions()]);
    const hint = interaction.params.login_hint;
    deps.pages.render(ctx, 'login', ctx.state.locale, {
      action: `${base}/login`,
      signupAction: deps.signupEnabled ? `${base}/signup` : undefined,
      // The page's language and this sign-in travel along, so "back to sign in" returns here (routes/password-reset.ts).
      forgotHref: `${deps.prefix}/account/forgot-password?${new URLSearchParams({ ui_locales: ctx.state.locale, interaction: interaction.uid })}`,
      clientName: ctx.state.clientName,
      csrf: ctx.state.csrf,
      login: options.login ?? (typeof hint === 'string' ? hint : ''),
      error: options.error,
      // "Keep me signed in": REMEMBER_ME_DEFAULT, or what was chosen before a refusal.
      remember: options.remember ?? deps.rememberMeDefault,
      providers,
      // "Sign in with a passkey": the webauthn.js form (a discoverable credential, second-factor.ts).
      passkeyAction: `${base}/passkey`,
      passkeyOptions,
      // remember-me.js: the passkey and social forms send the checkbox's state too.
      scripts: ['webauthn.js', 'remember-me.js'],
    }, options.status);
  }

  function renderSignup(ctx: InteractionContext, options: PageOptions = {}): void {
    const { base } = ctx.state;
    deps.pages.render(ctx, 'signup', ctx.state.locale, {
      action: `${base}/signup`,
      loginHref: base,
      clientName: ctx.state.clientName,
      csrf: ctx.state.csrf,
      login: options.login ?? '',
      name: options.name ?? '',
      error: options.error,
      remember: options.remember ?? deps.rememberMeDefault,
    }, options.status);
  }

  /** The login page; a step-up (a session asked for the MFA level) goes straight to the second factor. */
  function showLogin(ctx: InteractionContext): Promise<void> {
    if (isStepUp(ctx)) {
      ctx.status = 303;
      ctx.redirect(`${ctx.state.base}/second-factor`);
      return Promise.resolve();
    }
    return renderLogin(ctx);
  }

  /** A body that is not the login form. */
  function invalidLogin(ctx: InteractionContext): Promise<void> {
    return renderLogin(ctx, { error: t(ctx)('login.failed'), status: 400 });
  }

  async function throttleLogin(ctx: InteractionContext, next: Next): Promise<void> {
    const form = ctx.state.form as LoginForm;
    const wait = await deps.throttle.attempt(form.login.trim().toLowerCase(), ctx.ip);
    if (wait > 0) return renderLogin(ctx, { login: form.login, error: throttled(ctx, wait), status: 429, remember: rememberChosen(form.remember) });
    await next();
  }

  async function checkPassword(ctx: InteractionContext, next: Next): Promise<void> {
    const form = ctx.state.form as LoginForm;
    const email = form.login.trim().toLowerCase();
    const result = await deps.accounts.authenticate(email, form.password);
    const seen = { clientId: String(ctx.state.interaction.params.client_id), ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined };
    if (!result.ok) {
      // The account it was meant for, when the e-mail is one; never what was typed (people type passwords into e-mail fields).
      await deps.audit.record('login.failure', { ...seen, accountId: result.accountId });
      return renderLogin(ctx, { login: form.login, error: t(ctx)('login.failed'), status: 401, remember: rememberChosen(form.remember) });
    }
    await deps.audit.record('login.success', { ...seen, accountId: result.account.id });
    // The throttle starts afresh only once the whole sign-in succeeds (signIn, or after the second factor):
    // a right password followed by wrong codes must keep counting.
    ctx.state.throttledAs = email;
    ctx.state.accountId = result.account.id;
    ctx.state.signingIn = result.account;
    ctx.state.remember = rememberChosen(form.remember);
    await next();
  }

  async function requireSignup(ctx: InteractionContext, next: Next): Promise<void> {
    if (!deps.signupEnabled) return deps.pages.error(ctx, 'not_found', 404);
    await next();
  }

  function showSignup(ctx: InteractionContext): void {
    renderSignup(ctx);
  }

  /** A body that is not the sign-up form. */
  function invalidSignup(ctx: InteractionContext): void {
    renderSignup(ctx, { error: t(ctx)('signup.invalidEmail'), status: 400 });
  }

  // Sign-ups count against the IP like failed sign-ins: it bounds account
  // creation and probing for registered e-mails ("taken") from one address.
  async function throttleSignup(ctx: InteractionContext, next: Next): Promise<void> {
    const wait = await deps.throttle.attempt(`signup:${ctx.ip}`, ctx.ip);
    if (wait > 0) return renderSignup(ctx, { error: throttled(ctx, wait), status: 429 });
    await next();
  }

  async function createAccount(ctx: InteractionContext, next: Next): Promise<void> {
    const { login, password } = ctx.state.form as SignupForm;
    const remember = rememberChosen((ctx.state.form as SignupForm).remember);
    const name = (ctx.state.form as SignupForm).name?.trim() || undefined;
    let created: AccountView;
    try {
      created = await deps.accounts.create({ email: login, password, name });
    } catch (err) {
      if (err instanceof ConflictError) return renderSignup(ctx, { login, name, error: t(ctx)('signup.taken'), status: 409, remember });
      if (err instanceof ZodError) {
        const field = err.issues[0]?.path[0];
        const message = field === 'password' ? 'signup.invalidPassword' : field === 'name' ? 'signup.invalidName' : 'signup.invalidEmail';
        return renderSignup(ctx, { login, name, error: t(ctx)(message), status: 400, remember });
      }
      throw err;
    }
    ctx.state.accountId = created.id;
    ctx.state.remember = remember;
    // Just made: no second factor yet (the second-factor step need not read it again).
    ctx.state.signingIn = { id: created.id, roles: created.roles, hasSecondFactor: false };
    // In the page's language; with mail off, nothing goes (the account page says verification is unavailable).
    const sent = await deps.emailVerification.send({ id: created.id, email: created.email, name: created.name, emailVerified: false }, ctx.state.locale);
    if (sent.sent) await deps.audit.record('email.verification_sent', { accountId: created.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, details: { by: 'sign-up' } });
    await next();
  }

  /**
   * REQUIRE_VERIFIED_EMAIL: the password was right, but the interaction is
   * not finished until the address is verified, so the client gets nothing.
   * A link goes out (throttled: a sign-up has just sent one) and the page
   * says so; once the link is used, signing in again completes.
   */
  async function requireVerifiedEmail(ctx: InteractionContext, next: Next): Promise<void> {
    if (!deps.requireVerifiedEmail) return next();
    const account = await deps.accounts.findActive(ctx.state.accountId);
    if (!account || account.emailVerified) return next();
    const { locale } = ctx.state;
    const sent = await deps.emailVerification.send(account, locale);
    if (sent.sent) await deps.audit.record('email.verification_sent', { accountId: account.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, details: { by: 'sign-in' } });
    const unavailable = !sent.sent && sent.reason === 'mail_off';
    deps.pages.notice(ctx, unavailable ? 'verify_required_unavailable' : 'verify_required', { locale, status: 403, vars: { email: account.email } });
  }

  async function signIn(ctx: InteractionContext): Promise<void> {
    await deps.sessions.beforeSignIn(ctx.state.accountId);
    if (ctx.state.throttledAs) await deps.throttle.succeeded(ctx.state.throttledAs, ctx.ip);
    // amr: RFC 8176 "pwd", one factor (mfa/sign-in-levels.ts). `remember`: "Keep me signed in"; false ends the session with the browser (oidc/remember-me.ts).
    await finish(ctx, deps.provider, { login: { accountId: ctx.state.accountId, ...signInLevel(['pwd']), remember: ctx.state.remember === true } }, false);
  }

  return { showLogin, invalidLogin, throttleLogin, checkPassword, requireSignup, showSignup, invalidSignup, throttleSignup, createAccount, requireVerifiedEmail, signIn };
}

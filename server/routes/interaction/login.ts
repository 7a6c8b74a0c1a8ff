// The login and sign-up steps. The same message and the same argon2id work
// answer an unknown e-mail and a wrong password (no account enumeration);
// the throttle answers 429 once an e-mail or an IP has failed too often.
import type { Context } from 'koa';
import { z, ZodError } from 'zod';
import { ConflictError } from '../../errors.ts';
import { translator } from '../../i18n.ts';
import type { StoredAccount } from '../../repositories/account-repository.ts';
import { checkCsrf, finish, loadInteraction, type InteractionDependencies, type Loaded } from './context.ts';

const loginForm = z.object({
  login: z.string().max(320),
  password: z.string().max(1024),
});

const signupForm = z.object({
  name: z.string().max(200).optional(),
  login: z.string().max(320),
  password: z.string().max(1024),
});

/** The login page, with an optional error message and status. */
export function showLogin(ctx: Context, deps: InteractionDependencies, loaded: Loaded, options: { login?: string; error?: string; status?: number } = {}): void {
  const hint = loaded.interaction.params.login_hint;
  deps.pages.render(ctx, 'login', loaded.locale, {
    action: `${loaded.base}/login`,
    signupAction: deps.signupEnabled ? `${loaded.base}/signup` : undefined,
    clientName: loaded.clientName,
    csrf: loaded.csrf,
    login: options.login ?? (typeof hint === 'string' ? hint : ''),
    error: options.error,
  }, options.status);
}

function showSignup(ctx: Context, deps: InteractionDependencies, loaded: Loaded, options: { login?: string; name?: string; error?: string; status?: number } = {}): void {
  deps.pages.render(ctx, 'signup', loaded.locale, {
    action: `${loaded.base}/signup`,
    loginHref: loaded.base,
    clientName: loaded.clientName,
    csrf: loaded.csrf,
    login: options.login ?? '',
    name: options.name ?? '',
    error: options.error,
  }, options.status);
}

async function signedIn(ctx: Context, deps: InteractionDependencies, account: StoredAccount): Promise<void> {
  await deps.onSignIn(account.id);
  // amr: RFC 8176 "pwd". `remember` keeps the session across browser restarts.
  await finish(ctx, deps, { login: { accountId: account.id, amr: ['pwd'], remember: true } }, false);
}

export async function postLogin(ctx: Context, deps: InteractionDependencies): Promise<void> {
  const loaded = await loadInteraction(ctx, deps);
  if (!loaded || !checkCsrf(ctx, deps, loaded)) return;
  const t = translator(loaded.locale);
  if (loaded.interaction.prompt.name !== 'login') return deps.pages.error(ctx, 'login_expired', 400, loaded.locale);

  const form = loginForm.safeParse(ctx.request.body);
  if (!form.success) return showLogin(ctx, deps, loaded, { error: t('login.failed'), status: 400 });
  const email = form.data.login.trim().toLowerCase();

  const wait = await deps.throttle.attempt(email, ctx.ip);
  if (wait > 0) {
    ctx.set('Retry-After', String(wait));
    return showLogin(ctx, deps, loaded, { login: form.data.login, error: t('login.throttled', { minutes: Math.ceil(wait / 60) }), status: 429 });
  }

  const account = await deps.accounts.authenticate(email, form.data.password);
  const seen = { clientId: String(loaded.interaction.params.client_id), ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined };
  if (!account) {
    // The account it was meant for, when the e-mail is one; never what was typed (people type passwords into e-mail fields).
    await deps.audit.record('login.failure', { ...seen, accountId: await deps.accounts.idForEmail(email) });
    return showLogin(ctx, deps, loaded, { login: form.data.login, error: t('login.failed'), status: 401 });
  }
  await deps.audit.record('login.success', { ...seen, accountId: account.id });
  await deps.throttle.succeeded(email, ctx.ip);
  await signedIn(ctx, deps, account);
}

export async function getSignup(ctx: Context, deps: InteractionDependencies): Promise<void> {
  if (!deps.signupEnabled) return deps.pages.error(ctx, 'not_found', 404);
  const loaded = await loadInteraction(ctx, deps);
  if (!loaded) return;
  showSignup(ctx, deps, loaded);
}

export async function postSignup(ctx: Context, deps: InteractionDependencies): Promise<void> {
  if (!deps.signupEnabled) return deps.pages.error(ctx, 'not_found', 404);
  const loaded = await loadInteraction(ctx, deps);
  if (!loaded || !checkCsrf(ctx, deps, loaded)) return;
  const t = translator(loaded.locale);
  if (loaded.interaction.prompt.name !== 'login') return deps.pages.error(ctx, 'login_expired', 400, loaded.locale);

  // Sign-ups count against the IP like failed sign-ins: it bounds account
  // creation and probing for registered e-mails ("taken") from one address.
  const wait = await deps.throttle.attempt(`signup:${ctx.ip}`, ctx.ip);
  if (wait > 0) {
    ctx.set('Retry-After', String(wait));
    return showSignup(ctx, deps, loaded, { error: t('login.throttled', { minutes: Math.ceil(wait / 60) }), status: 429 });
  }
  const form = signupForm.safeParse(ctx.request.body);
  if (!form.success) return showSignup(ctx, deps, loaded, { error: t('signup.invalidEmail'), status: 400 });
  const { login, password } = form.data;
  const name = form.data.name?.trim() || undefined;
  try {
    await deps.accounts.create({ email: login, password, name });
  } catch (err) {
    if (err instanceof ConflictError) return showSignup(ctx, deps, loaded, { login, name, error: t('signup.taken'), status: 409 });
    if (err instanceof ZodError) {
      const field = err.issues[0]?.path[0];
      const message = field === 'password' ? 'signup.invalidPassword' : field === 'name' ? 'signup.invalidName' : 'signup.invalidEmail';
      return showSignup(ctx, deps, loaded, { login, name, error: t(message), status: 400 });
    }
    throw err;
  }
  const account = await deps.accounts.authenticate(login, password);
  if (!account) return deps.pages.error(ctx, 'server_error', 500, loaded.locale);
  await signedIn(ctx, deps, account);
}

// Social login (issue 15): the round trip to an upstream provider, bound to
// the interaction it started from, and what its answer leads to.
//   POST /:uid/federated/:provider         startSignIn: a button of the login page
//   GET  /federated/:provider/callback     takeCallback: the redirect URI registered at the upstream
//   GET  /:uid/federated/continue          continueSignIn: signs in, creates, or asks to link
//   POST /:uid/federated/link              linkWithPassword: proves the existing account, then links
// The account page's "link" buttons use the same round trip and callback
// (routes/account-identities.ts starts it with intent `link`).
//
// Why two hops after the upstream: the redirect URI cannot carry the
// interaction's uid (it is registered once per provider), and the
// interaction's cookie is scoped to /interaction/<uid>. So the round trip's
// checks travel in a sealed cookie (state, PKCE verifier, nonce, the uid;
// encrypted, HttpOnly, SameSite=Lax for the upstream's top-level redirect),
// the callback completes the exchange, and hands the person the upstream
// vouched for to /interaction/<uid>/federated/continue in a second sealed
// cookie scoped to that interaction, where the interaction's own cookie
// proves it is still the same browser.
import { signInLevel } from '../../mfa/sign-in-levels.ts';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { Identities, SignInOutcome } from '../../federation/identities.ts';
import { IdentityTakenError } from '../../federation/identities.ts';
import type { ProviderService, ResolvedProvider } from '../../federation/providers.ts';
import { federatedCallbackPath, koreanWithParticle, providerLabel } from '../../federation/presets.ts';
import type { SecretBox } from '../../federation/secret-box.ts';
import { UpstreamSecretKeyError } from '../../keys/upstream-secret-keys.ts';
import type { ReauthenticationRequest, RoundTripChecks, UpstreamIdentity, UpstreamSignIn } from '../../federation/upstream-sign-in.ts';
import { UpstreamSignInError } from '../../federation/upstream-sign-in.ts';
import type { Locale } from '../../i18n.ts';
import type { Logger } from '../../logger.ts';
import { finish, rememberChosen, type InteractionContext, type InteractionDependencies } from './steps.ts';

/** What social login adds to the interaction routes' dependencies. */
export interface FederationDependencies {
  providers: Pick<ProviderService, 'resolve' | 'list'>;
  upstream: UpstreamSignIn;
  identities: Identities;
  /** Seals the round trip's cookies (federation/secret-box.ts). */
  sealer: Pick<SecretBox, 'seal' | 'open'>;
  logger: Logger;
}

/** The round trip in flight: sealed into ROUND_TRIP_COOKIE by whoever starts it. */
export interface RoundTrip {
  provider: string;
  checks: RoundTripChecks;
  locale: Locale;
  /**
   * sign_in: from the login page of interaction `uid`, with its "Keep me
   * signed in" choice; link: from the account page of `accountId`'s session `sessionUid`.
   */
  intent: { kind: 'sign_in'; uid: string; remember?: boolean } | { kind: 'link'; accountId: string; sessionUid: string };
}

/** The person an upstream vouched for, on their way to /:uid/federated/continue (and kept while a link awaits proof). */
interface Vouched { uid: string; provider: string; identity: UpstreamIdentity; remember?: boolean }
interface PendingLink extends Vouched { accountId: string }

export const ROUND_TRIP_COOKIE = 'tollgate.federated';
const VOUCHED_COOKIE = 'tollgate.federated.identity';
const PENDING_COOKIE = 'tollgate.federated.pending';
/** Long enough to sign in at the upstream (and enrol there); the interaction itself lasts one hour. */
export const ROUND_TRIP_SECONDS = 10 * 60;
const SEAL = { roundTrip: 'federated-round-trip', vouched: 'federated-identity', pending: 'federated-pending' };

export const linkForm = z.object({ password: z.string().max(1024) });

/** Sends the browser to the upstream, the checks sealed in a cookie only the callback sees (from the login page, or the account page's "link"). */
export async function startRoundTrip(
  ctx: Context,
  deps: Pick<FederationDependencies, 'upstream' | 'sealer'> & { prefix: string },
  provider: ResolvedProvider,
  trip: Omit<RoundTrip, 'checks' | 'provider'>,
  request: ReauthenticationRequest = {},
): Promise<void> {
  const { url, checks } = await deps.upstream.begin(provider, request);
  const sealed = await deps.sealer.seal(SEAL.roundTrip, { ...trip, provider: provider.id, checks } satisfies RoundTrip, ROUND_TRIP_SECONDS);
  ctx.cookies.set(ROUND_TRIP_COOKIE, sealed, { httpOnly: true, sameSite: 'lax', path: `${deps.prefix}/interaction/federated/`, maxAge: ROUND_TRIP_SECONDS * 1000, signed: false, overwrite: true });
  ctx.status = 303;
  ctx.redirect(url.href);
}

export function federatedSteps(interactionDeps: InteractionDependencies) {
  const deps = { ...interactionDeps, ...interactionDeps.federation };
  const cookieOptions = (path: string, maxAgeSeconds: number) => ({ httpOnly: true, sameSite: 'lax' as const, path, maxAge: maxAgeSeconds * 1000, signed: false, overwrite: true });
  const callbackCookiePath = `${deps.prefix}/interaction/federated/`;
  const interactionPath = (uid: string) => `${deps.prefix}/interaction/${uid}`;
  const clear = (ctx: Context, name: string, path: string) => ctx.cookies.set(name, null, { path, overwrite: true });
  const seen = (ctx: InteractionContext | Context, clientId?: string) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, ...(clientId ? { clientId } : {}) });

  /** An enabled provider by id, with its secret; undefined when there is none (removed, disabled, or its secret cannot be read). */
  async function usable(id: string): Promise<ResolvedProvider | undefined> {
    try {
      const provider = await deps.providers.resolve(id);
      return provider?.enabled ? provider : undefined;
    } catch (err) {
      if (!(err instanceof UpstreamSecretKeyError)) throw err;
      deps.logger.error({ provider: id, err: { message: err.message } }, 'an upstream provider cannot be used');
      return undefined;
    }
  }

  const beginRoundTrip = (ctx: Context, provider: ResolvedProvider, trip: Omit<RoundTrip, 'checks' | 'provider'>, request?: ReauthenticationRequest) =>
    startRoundTrip(ctx, deps, provider, trip, request);

  /** A failure as a page at Tollgate, with the way back; the detail goes to the log only. */
  function failurePage(ctx: Context, reason: string, locale: Locale, back: string, status: number, vars: Record<string, string> = {}): void {
    // A link started on the account page goes back there, and says so; a sign-in goes back to its login page.
    const label = back === `${deps.prefix}/account` ? 'profile.toAccount' : 'federation.back';
    deps.pages.notice(ctx, `federation_${reason}`, { locale, status, vars, link: { href: back, label } });
  }

  /** "Continue with Kakao" / "카카오로 계속하기". */
  const continueWith = (provider: { type: string; name: string }, locale: Locale) => {
    const label = providerLabel(provider, locale);
    return deps.pages.translator(locale)('login.continueWith', { provider: locale === 'ko' ? koreanWithParticle(label) : label });
  };

  /** The login page's buttons: one per enabled provider. */
  async function buttons(ctx: InteractionContext): Promise<Array<{ id: string; label: string; action: string }>> {
    return (await deps.providers.list()).filter((p) => p.enabled).map((p) => ({
      id: p.id,
      label: continueWith(p, ctx.state.locale),
      action: `${ctx.state.base}/federated/${p.id}`,
    }));
  }

  async function startSignIn(ctx: InteractionContext): Promise<void> {
    const { locale, interaction } = ctx.state;
    const provider = await usable(ctx.params.provider!);
    if (!provider) return failurePage(ctx, 'unavailable', locale, interactionPath(interaction.uid), 404);
    try {
      // The client asked for a fresh sign-in (prompt=login) or one within max_age: so must the upstream.
      const reasons = interaction.prompt.reasons;
      const maxAge = Number(interaction.params.max_age);
      // "Keep me signed in" (the login page's hidden copy of its checkbox) goes to the upstream and back in the sealed round trip.
      const remember = rememberChosen((ctx.request.body as Record<string, unknown> | undefined)?.remember);
      await beginRoundTrip(ctx, provider, { intent: { kind: 'sign_in', uid: interaction.uid, remember }, locale }, {
        reauthenticate: reasons.includes('login_prompt') || reasons.includes('max_age'),
        ...(Number.isInteger(maxAge) && maxAge >= 0 ? { maxAge } : {}),
      });
    } catch (err) {
      if (!(err instanceof UpstreamSignInError)) throw err;
      deps.logger.warn({ provider: provider.id, reason: err.reason, err: { message: err.message } }, 'social sign-in could not start');
      failurePage(ctx, err.reason, locale, interactionPath(interaction.uid), 502, { provider: providerLabel(provider, locale) });
    }
  }

  /**
   * The upstream's redirect. Whatever it carries, the answer is a page here
   * or a redirect within Tollgate: never the upstream's text, never a 500.
   */
  async function takeCallback(ctx: Context): Promise<void> {
    const providerId = String((ctx as unknown as { params: Record<string, string> }).params.provider);
    const sealed = ctx.cookies.get(ROUND_TRIP_COOKIE);
    const trip = sealed ? await deps.sealer.open<RoundTrip>(SEAL.roundTrip, sealed) : undefined;
    const locale = trip?.locale ?? deps.pages.localeOf(ctx);
    // No round trip of this browser to this provider: an old tab, a replayed URL, or someone else's callback (login CSRF).
    if (!trip || trip.provider !== providerId) {
      // Said to the operator: many of these from one address look like someone handing out their own callback URLs.
      deps.logger.warn({ provider: providerId.slice(0, 64), ip: ctx.ip, roundTrip: trip ? 'another_provider' : sealed ? 'unreadable' : 'none' }, 'social sign-in callback without its round trip');
      return deps.pages.error(ctx, 'login_expired', 400, locale);
    }
    clear(ctx, ROUND_TRIP_COOKIE, callbackCookiePath); // single use
    const back = trip.intent.kind === 'sign_in' ? interactionPath(trip.intent.uid) : `${deps.prefix}/account`;
    const provider = await usable(providerId);
    if (!provider) {
      // Removed or disabled while the person was at the upstream: the code is not exchanged.
      deps.logger.warn({ provider: providerId }, 'social sign-in callback for a provider not offered');
      return failurePage(ctx, 'unavailable', locale, back, 404);
    }
    const label = providerLabel(provider, locale);
    const wait = await deps.throttle.attempt(`federated:${ctx.ip}`, ctx.ip);
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      return failurePage(ctx, 'throttled', locale, back, 429, { minutes: String(Math.ceil(wait / 60)) });
    }
    let identity: UpstreamIdentity;
    try {
      // The URL the upstream redirected to, rebuilt from ISSUER (never the Host header): openid-client takes the redirect_uri of the exchange from it.
      const callback = new URL(provider.redirectUri);
      callback.search = ctx.querystring;
      identity = await deps.upstream.complete(provider, callback, trip.checks);
    } catch (err) {
      if (!(err instanceof UpstreamSignInError)) throw err;
      deps.logger.warn({ provider: provider.id, reason: err.reason, err: { message: err.message } }, 'social sign-in failed');
      if (trip.intent.kind === 'sign_in') await deps.audit.record('login.failure', { ...seen(ctx), details: { method: 'federated', provider: provider.id, reason: err.reason } });
      const status = err.reason === 'denied' ? 403 : err.reason === 'state_mismatch' ? 400 : 502;
      return failurePage(ctx, err.reason, locale, back, status, { provider: label });
    }
    await deps.throttle.succeeded(`federated:${ctx.ip}`, ctx.ip);

    if (trip.intent.kind === 'link') return linkFromAccountPage(ctx, trip.intent, provider, identity, locale, label);
    const uid = trip.intent.uid;
    const vouched = await deps.sealer.seal(SEAL.vouched, { uid, provider: provider.id, identity, remember: trip.intent.remember === true } satisfies Vouched, ROUND_TRIP_SECONDS);
    ctx.cookies.set(VOUCHED_COOKIE, vouched, cookieOptions(interactionPath(uid), ROUND_TRIP_SECONDS));
    ctx.status = 303;
    ctx.redirect(`${interactionPath(uid)}/federated/continue`);
  }

  /** The account page's "link": the session that started it must still be the one signed in. */
  async function linkFromAccountPage(ctx: Context, intent: { accountId: string; sessionUid: string }, provider: ResolvedProvider, identity: UpstreamIdentity, locale: Locale, label: string): Promise<void> {
    const account = `${deps.prefix}/account`;
    const session = await deps.provider.Session.get(ctx as never);
    if (session.uid !== intent.sessionUid || session.accountId !== intent.accountId) return deps.pages.error(ctx, 'login_expired', 400, locale);
    try {
      await deps.identities.link(intent.accountId, provider.id, identity, { ...seen(ctx), via: 'account_page' });
    } catch (err) {
      if (err instanceof IdentityTakenError) return failurePage(ctx, 'identity_taken', locale, account, 409, { provider: label });
      if ((err as { code?: string }).code === 'conflict') return failurePage(ctx, 'already_linked', locale, account, 409, { provider: label });
      throw err;
    }
    ctx.status = 303;
    ctx.redirect(account);
  }

  /** The identity the callback handed over, for this interaction only; else the login page again. */
  async function takeVouched(ctx: InteractionContext): Promise<Vouched | undefined> {
    const { uid } = ctx.state.interaction;
    const sealed = ctx.cookies.get(VOUCHED_COOKIE);
    const vouched = sealed ? await deps.sealer.open<Vouched>(SEAL.vouched, sealed) : undefined;
    clear(ctx, VOUCHED_COOKIE, interactionPath(uid));
    return vouched?.uid === uid ? vouched : undefined;
  }

  async function pendingLink(ctx: InteractionContext): Promise<PendingLink | undefined> {
    const sealed = ctx.cookies.get(PENDING_COOKIE);
    const pending = sealed ? await deps.sealer.open<PendingLink>(SEAL.pending, sealed) : undefined;
    return pending?.uid === ctx.state.interaction.uid ? pending : undefined;
  }

  async function continueSignIn(ctx: InteractionContext, next: Next): Promise<void> {
    const { interaction, locale } = ctx.state;
    const vouched = await takeVouched(ctx);
    if (!vouched) return deps.pages.error(ctx, 'login_expired', 400, locale);
    const provider = await usable(vouched.provider);
    const back = interactionPath(interaction.uid);
    if (!provider) return failurePage(ctx, 'unavailable', locale, back, 404);
    const clientId = String(interaction.params.client_id);
    const outcome: SignInOutcome = await deps.identities.signIn(provider, vouched.identity, seen(ctx, clientId));
    const label = providerLabel(provider, locale);
    if (outcome.kind === 'refused') {
      await deps.audit.record('login.failure', { ...seen(ctx, clientId), details: { method: 'federated', provider: provider.id, reason: outcome.reason } });
      return failurePage(ctx, outcome.reason, locale, back, 403, { provider: label });
    }
    if (outcome.kind === 'link_required') {
      const pending: PendingLink = { ...vouched, accountId: outcome.accountId };
      ctx.cookies.set(PENDING_COOKIE, await deps.sealer.seal(SEAL.pending, pending, ROUND_TRIP_SECONDS), cookieOptions(back, ROUND_TRIP_SECONDS));
      return renderLinkPage(ctx, pending, label);
    }
    // Signed in by this identity. A link that awaited proof of this same account is now proven: make it.
    const pending = await pendingLink(ctx);
    if (pending && pending.accountId === outcome.accountId && pending.provider !== provider.id) {
      await deps.identities.link(pending.accountId, pending.provider, pending.identity, { ...seen(ctx, clientId), via: 'sign_in' })
        .catch((err: unknown) => { if (!(err instanceof IdentityTakenError) && (err as { code?: string }).code !== 'conflict') throw err; });
    }
    if (pending) clear(ctx, PENDING_COOKIE, back);
    await deps.audit.record('login.success', { ...seen(ctx, clientId), accountId: outcome.accountId, details: { method: 'federated', provider: provider.id, ...(outcome.created ? { created: true } : {}) } });
    if (outcome.created) {
      const account = await deps.accounts.findActive(outcome.accountId);
      // An address the upstream did not vouch for is checked as at sign-up; with mail off, the account page says it cannot be.
      if (account && !account.emailVerified) await deps.emailVerification.send(account, locale);
    }
    ctx.state.accountId = outcome.accountId;
    ctx.state.remember = vouched.remember === true;
    // amr: "fed" only. What the upstream says of its own sign-in (its amr: "mfa", "hwk") is not ours to repeat.
    // auth_time: when the person authenticated at the upstream, when it says (never later than now).
    const authTime = vouched.identity.authTime;
    ctx.state.signedInWith = {
      provider: provider.id, amr: ['fed'],
      ...(authTime !== undefined && authTime <= Math.floor(Date.now() / 1000) ? { authTime } : {}),
    };
    await next();
  }

  /** "An account with this e-mail exists: sign in to it to link": its password, or a provider already linked to it. */
  async function renderLinkPage(ctx: InteractionContext, pending: PendingLink, label: string, options: { error?: string; status?: number } = {}): Promise<void> {
    const { base, locale } = ctx.state;
    // What the page may tell depends on who is asking: an upstream that vouched for the address speaks for its
    // owner; one that did not (Naver, an unverified address elsewhere) may be anyone typing someone's address,
    // who learns no more than the sign-up form would tell: the account exists. Not how it signs in.
    const vouched = pending.identity.emailVerified;
    const linked = vouched ? new Set((await deps.identities.list(pending.accountId)).map((i) => i.providerId)) : new Set<string>();
    const account = vouched ? await deps.accounts.findActive(pending.accountId) : undefined;
    const others = (await deps.providers.list()).filter((p) => p.enabled && linked.has(p.id) && p.id !== pending.provider);
    deps.pages.render(ctx, 'federated-link', locale, {
      provider: label,
      email: pending.identity.email,
      action: `${base}/federated/link`,
      hasPassword: vouched ? Boolean(account?.passwordHash) : true,
      others: others.map((p) => ({ label: continueWith(p, locale), action: `${base}/federated/${p.id}` })),
      cancelHref: base,
      csrf: ctx.state.csrf,
      // The other providers' buttons start a new round trip: the choice goes along.
      remember: pending.remember === true,
      error: options.error,
    }, options.status ?? 200);
  }

  /** The existing account's password, checked as the login form checks it (throttled, audited); then the link, then the sign-in. */
  async function linkWithPassword(ctx: InteractionContext, next: Next): Promise<void> {
    const { locale, interaction } = ctx.state;
    const pending = await pendingLink(ctx);
    if (!pending?.identity.email) return deps.pages.error(ctx, 'login_expired', 400, locale);
    const provider = await usable(pending.provider);
    if (!provider) return failurePage(ctx, 'unavailable', locale, interactionPath(interaction.uid), 404);
    const label = providerLabel(provider, locale);
    const t = deps.pages.translator(locale);
    const email = pending.identity.email;
    const clientId = String(interaction.params.client_id);
    const form = linkForm.safeParse(ctx.request.body);
    if (!form.success) return renderLinkPage(ctx, pending, label, { error: t('login.failed'), status: 400 });
    const wait = await deps.throttle.attempt(email, ctx.ip);
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      return renderLinkPage(ctx, pending, label, { error: t('login.throttled', { minutes: Math.ceil(wait / 60) }), status: 429 });
    }
    const result = await deps.accounts.authenticate(email, form.data.password);
    if (!result.ok || result.account.id !== pending.accountId) {
      await deps.audit.record('login.failure', { ...seen(ctx, clientId), accountId: result.ok ? result.account.id : result.accountId });
      return renderLinkPage(ctx, pending, label, { error: t('login.failed'), status: 401 });
    }
    await deps.throttle.succeeded(email, ctx.ip);
    try {
      await deps.identities.link(pending.accountId, pending.provider, pending.identity, { ...seen(ctx, clientId), via: 'sign_in' });
    } catch (err) {
      clear(ctx, PENDING_COOKIE, interactionPath(interaction.uid));
      if (err instanceof IdentityTakenError) return failurePage(ctx, 'identity_taken', locale, interactionPath(interaction.uid), 409, { provider: label });
      if ((err as { code?: string }).code === 'conflict') return failurePage(ctx, 'already_linked', locale, interactionPath(interaction.uid), 409, { provider: label });
      throw err;
    }
    clear(ctx, PENDING_COOKIE, interactionPath(interaction.uid));
    await deps.audit.record('login.success', { ...seen(ctx, clientId), accountId: pending.accountId, details: { method: 'password', linked: pending.provider } });
    ctx.state.accountId = pending.accountId;
    ctx.state.remember = pending.remember === true;
    ctx.state.signedInWith = { provider: pending.provider, amr: ['pwd', 'fed'] };
    await next();
  }

  return { buttons, startSignIn, takeCallback, continueSignIn, linkWithPassword, beginRoundTrip, usable, failurePage };
}

/** The result handed to oidc-provider after a social sign-in: `amr`, and the provider for the ID token's `idp` (oidc/federated-sessions.ts). */
export async function finishFederated(ctx: InteractionContext, deps: InteractionDependencies): Promise<void> {
  const { accountId, signedInWith } = ctx.state;
  await deps.sessions.beforeSignIn(accountId);
  const ts = signedInWith!.authTime;
  await finish(ctx, deps.provider, {
    login: { accountId, ...signInLevel(signedInWith!.amr), remember: ctx.state.remember === true, ...(ts !== undefined ? { ts } : {}) },
    federation: { provider: signedInWith!.provider },
  }, false);
}

export { federatedCallbackPath };

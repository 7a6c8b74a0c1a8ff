// The second step of a sign-in (issue 16): after a password or a social
// sign-in, a person with a second factor proves it before the interaction
// is finished, and a person who must have one (MFA_POLICY, a client's
// require_mfa, a client asking for the MFA level) sets one up first. The
// same step answers a step-up: a session signed in with one factor, asked
// for the MFA level, proves the second factor without typing the password
// again. And a passkey with user verification signs in on its own.
//
// Until the second factor is proven nothing is handed to oidc-provider: no
// session, no login result, so its resume URL, the consent form and the
// account page (a client like any other) all lead back here. What the first
// step proved travels in a cookie sealed to this interaction (encrypted,
// HttpOnly, path /interaction/<uid>, 10 minutes): the interaction's own
// cookie proves the same browser, the sealed one that its first factor
// passed. A step-up needs no cookie: the session is the first factor.
//
//   requireSecondFactor   after the first factor: on to the second-factor page, to enrolment, or straight on
//   loadPending           the sealed first factor (or the session, for a step-up); else "login expired"
//   showSecondFactor      the page: a code (authenticator app or recovery code), or a passkey
//   throttleSecondFactor  each code counts toward the login throttle, as a failed password does (429)
//   checkSecondFactor     verifies the code or the passkey; audits mfa.challenge_failed / passes on the methods used
//   requireNoFactor       enrolment is for accounts that have no factor yet (else the second-factor page)
//   showEnrolment, showTotpSetup, confirmTotpSetup, registerPasskey, continueAfterEnrolment
//   signInWithPasskey     "Sign in with a passkey": a discoverable credential, user verification required
//   completeSignIn        the login result with amr and acr (mfa/sign-in-levels.ts)
import type { Next } from 'koa';
import { z } from 'zod';
import type { MfaService } from '../../mfa/mfa.ts';
import { PASSKEY_NAME_MAX, PasskeyRefusedError, type Passkeys } from '../../mfa/passkeys.ts';
import type { MfaPolicy } from '../../config.ts';
import { mfaRequiredFor } from '../../mfa/policy.ts';
import { REQUIRE_MFA_METADATA } from '../../oidc/configuration.ts';
import { ACR_MFA, passkeyMethods, signInLevel } from '../../mfa/sign-in-levels.ts';
import { FEDERATED_AMR } from '../../oidc/sign-in-method.ts';
import { finish, rememberChosen, rememberField, type InteractionContext, type InteractionDependencies } from './steps.ts';

export interface SecondFactorDependencies {
  mfa: MfaService;
  passkeys: Passkeys;
  /** MFA_POLICY. */
  policy: MfaPolicy;
  /** The upstream provider a session signed in with (for a step-up of a social sign-in: the ID token keeps its `idp`). */
  idpOf?: (sessionUid: string, authTime: number) => Promise<string | undefined>;
}

/** What the first factor proved, sealed into PENDING_COOKIE until the second one is proven. */
interface Pending {
  uid: string;
  accountId: string;
  /** The first factor's `amr` values (`pwd`, `fed`). */
  methods: string[];
  /** A social sign-in: its provider and its upstream auth_time (routes/interaction/federated.ts). */
  provider?: string;
  ts?: number;
  /** A factor set up during this sign-in (its `amr` values): then it continues without a challenge. */
  enrolled?: string[];
  /** A step-up of the interaction's session (no cookie; the session is the first factor). */
  stepUp?: boolean;
  /** "Keep me signed in", as the first step's form chose it (a step-up keeps its session's choice). */
  remember?: boolean;
}

const PENDING_COOKIE = 'tollgate.mfa';
const PENDING_PURPOSE = 'mfa.pending';
const PENDING_SECONDS = 10 * 60;

/**
 * The reasons oidc-provider gives for a login prompt that only a second
 * factor answers: ours (oidc/second-factor-check.ts) and the library's own
 * for an essential `acr` in the claims parameter. Any other reason (no
 * session, max_age, prompt=login, another account's id_token_hint) is a
 * whole new sign-in.
 */
const STEP_UP_REASONS = new Set(['second_factor_required', 'essential_acr', 'essential_acrs']);

export const secondFactorForm = z.object({
  method: z.enum(['code', 'passkey']),
  code: z.string().max(64).optional(),
  webauthn_response: z.string().max(65_536).optional(),
});
type SecondFactorForm = z.infer<typeof secondFactorForm>;

const totpForm = z.object({ code: z.string().max(64) });
// The name's bound is the service's (PASSKEY_NAME_MAX): a longer one is refused with the passkey page's message, not a generic error page.
const passkeyForm = z.object({ webauthn_response: z.string().max(65_536), name: z.string().max(PASSKEY_NAME_MAX).optional(), remember: rememberField });

/** Whether the interaction asks only for a second factor on top of its session (a step-up). */
export function isStepUp(ctx: InteractionContext): boolean {
  const { interaction } = ctx.state;
  const reasons = interaction.prompt.reasons;
  return Boolean(interaction.session?.accountId) && reasons.length > 0 && reasons.every((r) => STEP_UP_REASONS.has(r));
}

export function secondFactorSteps(deps: InteractionDependencies) {
  const { mfa, passkeys, policy } = deps.secondFactor;
  const t = (ctx: InteractionContext) => deps.pages.translator(ctx.state.locale);
  const sealer = deps.federation.sealer;
  const cookiePath = (uid: string) => `${deps.prefix}/interaction/${uid}`;
  const seen = (ctx: InteractionContext) => ({ clientId: String(ctx.state.interaction.params.client_id), ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });

  async function seal(ctx: InteractionContext, pending: Pending): Promise<void> {
    if (pending.stepUp && !pending.enrolled) return; // the session is its proof
    ctx.cookies.set(PENDING_COOKIE, await sealer.seal(PENDING_PURPOSE, pending, PENDING_SECONDS), {
      httpOnly: true, sameSite: 'lax', path: cookiePath(pending.uid), maxAge: PENDING_SECONDS * 1000, signed: false, overwrite: true,
    });
  }
  const clear = (ctx: InteractionContext) => ctx.cookies.set(PENDING_COOKIE, null, { path: cookiePath(ctx.state.interaction.uid), overwrite: true });

  /** The account's factors as the second step needs them: whether it has any, and which it can use. */
  async function factorsOf(accountId: string) {
    const [factors, keys] = await Promise.all([mfa.factorsOf(accountId), passkeys.list(accountId)]);
    const totp = factors.totp !== null;
    const recovery = (factors.recoveryCodes?.remaining ?? 0) > 0;
    return { totp, recovery, passkeys: keys.length, any: totp || keys.length > 0 };
  }

  /** MFA_POLICY, the client's require_mfa, or the client asked for the MFA level (acr_values, an essential acr). */
  async function secondFactorRequired(ctx: InteractionContext, roles: readonly string[]): Promise<boolean> {
    const { interaction } = ctx.state;
    const asked = String(interaction.params.acr_values ?? '').split(' ').includes(ACR_MFA) || essentialAcrAsks(interaction.params.claims);
    if (asked) return true;
    const client = await deps.provider.Client.find(String(interaction.params.client_id));
    return mfaRequiredFor(policy, roles, (client as unknown as Record<string, unknown> | undefined)?.[REQUIRE_MFA_METADATA] === true);
  }

  /**
   * After the first factor (ctx.state.accountId; ctx.state.signedInWith for
   * a social sign-in): an account with a factor goes to the second-factor
   * page; one that must have a factor and has none, to enrolment; any other
   * goes on to be signed in.
   */
  async function requireSecondFactor(ctx: InteractionContext, next: Next): Promise<void> {
    const { accountId, signedInWith, interaction, base } = ctx.state;
    // The password step read the account with its factors (one statement); a sign-up or a social sign-in reads it here.
    const account = ctx.state.signingIn?.id === accountId ? ctx.state.signingIn : await deps.accounts.findActiveForSignIn(accountId);
    if (!account) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    if (!account.hasSecondFactor && !await secondFactorRequired(ctx, account.roles)) return next();
    const pending: Pending = {
      uid: interaction.uid,
      accountId,
      methods: signedInWith ? signedInWith.amr : ['pwd'],
      remember: ctx.state.remember === true,
      ...(signedInWith ? { provider: signedInWith.provider, ...(signedInWith.authTime !== undefined ? { ts: signedInWith.authTime } : {}) } : {}),
    };
    await seal(ctx, pending);
    ctx.status = 303;
    ctx.redirect(account.hasSecondFactor ? `${base}/second-factor` : `${base}/enrol`);
  }

  /** The first factor of this interaction, sealed by requireSecondFactor, or the session's for a step-up. */
  async function loadPending(ctx: InteractionContext, next: Next): Promise<void> {
    const { interaction } = ctx.state;
    const sealed = ctx.cookies.get(PENDING_COOKIE);
    let pending = sealed ? await sealer.open<Pending>(PENDING_PURPOSE, sealed) : undefined;
    if (pending && pending.uid !== interaction.uid) pending = undefined;
    if (!pending && isStepUp(ctx)) pending = await stepUpOf(ctx);
    // An account disabled or deleted since its first factor passed signs in no further.
    const account = pending ? await deps.accounts.findActive(pending.accountId) : undefined;
    if (!pending || !account) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    ctx.state.pending = { ...pending, email: account.email };
    await next();
  }

  /**
   * A step-up's first factor is the interaction's session. A session of a
   * social sign-in keeps its provider for the ID token's `idp`
   * (oidc/sign-in-method.ts records it again with the new sign-in's time).
   */
  async function stepUpOf(ctx: InteractionContext): Promise<Pending> {
    const { interaction } = ctx.state;
    const session = interaction.session as { accountId: string; uid?: string; cookie?: string; amr?: string[] };
    const methods = [...(session.amr ?? [])];
    let provider: string | undefined;
    if (methods.includes(FEDERATED_AMR) && session.uid && session.cookie) {
      const stored = await deps.provider.Session.find(session.cookie);
      if (stored?.loginTs !== undefined) provider = await deps.secondFactor.idpOf?.(session.uid, stored.loginTs);
    }
    return { uid: interaction.uid, accountId: session.accountId, methods, stepUp: true, ...(provider ? { provider } : {}) };
  }

  async function renderChallenge(ctx: InteractionContext, options: { error?: string; status?: number; remaining?: number } = {}): Promise<void> {
    const { pending, base, csrf } = ctx.state;
    const factors = await factorsOf(pending!.accountId);
    let passkeyOptions: string | undefined;
    if (factors.passkeys > 0) passkeyOptions = JSON.stringify(await passkeys.authenticationOptions({ accountId: pending!.accountId }));
    deps.pages.render(ctx, 'mfa-challenge', ctx.state.locale, {
      action: `${base}/second-factor`,
      abortAction: `${base}/abort`,
      csrf,
      clientName: ctx.state.clientName,
      totp: factors.totp,
      recovery: factors.recovery,
      passkeyOptions,
      stepUp: Boolean(pending!.stepUp),
      error: options.error,
      scripts: passkeyOptions ? ['webauthn.js'] : [],
    }, options.status);
  }

  async function showSecondFactor(ctx: InteractionContext): Promise<void> {
    const factors = await factorsOf(ctx.state.pending!.accountId);
    // A factor removed meanwhile (by its owner elsewhere, or an operator's reset): set one up. Never on with one factor from here: a GET signs no one in.
    if (!factors.any) {
      ctx.status = 303;
      return ctx.redirect(`${ctx.state.base}/enrol`);
    }
    return renderChallenge(ctx);
  }

  function invalidSecondFactor(ctx: InteractionContext): Promise<void> {
    return renderChallenge(ctx, { error: t(ctx)('mfa.challenge.failed'), status: 400 });
  }

  async function throttleSecondFactor(ctx: InteractionContext, next: Next): Promise<void> {
    const wait = await deps.throttle.attempt(ctx.state.pending!.email, ctx.ip);
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      return renderChallenge(ctx, { error: t(ctx)('login.throttled', { minutes: Math.ceil(wait / 60) }), status: 429 });
    }
    await next();
  }

  /** The code (authenticator app, else recovery code) or the passkey; the methods it adds go to ctx.state.secondMethods. */
  async function checkSecondFactor(ctx: InteractionContext, next: Next): Promise<void> {
    const form = ctx.state.form as SecondFactorForm;
    const { accountId } = ctx.state.pending!;
    const audit = { accountId, ...seen(ctx) };
    const refuse = async (reason: string, status = 401) => {
      await deps.audit.record('mfa.challenge_failed', { ...audit, details: { method: form.method, reason } });
      return renderChallenge(ctx, { error: t(ctx)(reason === 'replayed' ? 'mfa.challenge.replayed' : 'mfa.challenge.failed'), status });
    };
    if (form.method === 'passkey') {
      try {
        const used = await passkeys.authenticate(form.webauthn_response ?? '', { accountId });
        ctx.state.secondMethods = passkeyMethods(used);
      } catch (err) {
        if (err instanceof PasskeyRefusedError) return refuse(`passkey_${err.reason}`, err.reason === 'malformed' ? 400 : 401);
        throw err;
      }
    } else {
      const code = form.code ?? '';
      // Six digits are the app's code; anything longer is a recovery code (XXXX-XXXX-XXXX-XXXX).
      if (code.replace(/\s/g, '').length <= 8) {
        const verified = await mfa.verifyTotp(accountId, code);
        if (verified !== 'ok') return refuse(verified);
        ctx.state.secondMethods = ['otp'];
      } else {
        const used = await mfa.useRecoveryCode(accountId, code, seen(ctx));
        if (!used.ok) return refuse('invalid_recovery_code');
        ctx.state.secondMethods = ['otp'];
        ctx.state.recoveryCodesLeft = used.remaining;
      }
    }
    await deps.audit.record('mfa.challenge_passed', { ...audit, details: { methods: ctx.state.secondMethods } });
    await next();
  }

  /** The login result: the first factor's methods and the second's, with the level they make (mfa/sign-in-levels.ts). */
  async function completeSignIn(ctx: InteractionContext): Promise<void> {
    const pending = ctx.state.pending!;
    const { amr, acr } = signInLevel([...pending.methods, ...(pending.enrolled ?? []), ...(ctx.state.secondMethods ?? [])]);
    // A step-up keeps its session, which the concurrent-login policy has already counted.
    if (!pending.stepUp) await deps.sessions.beforeSignIn(pending.accountId);
    await deps.throttle.succeeded(pending.email, ctx.ip);
    clear(ctx);
    const left = ctx.state.recoveryCodesLeft;
    if (left !== undefined) {
      // A recovery code was used: how many remain, on a page of its own before going on, so that it is not missed (the lost app needs replacing).
      const to = await deps.provider.interactionResult(ctx.req, ctx.res, loginResult(pending, amr, acr), { mergeWithLastSubmission: false });
      return deps.pages.notice(ctx, left <= 3 ? 'mfa_recovery_codes_low' : 'mfa_recovery_code_used', { locale: ctx.state.locale, vars: { remaining: left }, link: { href: to, label: 'mfa.continue' } });
    }
    await finish(ctx, deps.provider, loginResult(pending, amr, acr), false);
  }

  function loginResult(pending: Pending, amr: string[], acr: string) {
    return {
      // `remember` (oidc/remember-me.ts): a step-up states none, and its session keeps the choice it was made with.
      login: { accountId: pending.accountId, amr, acr, ...(pending.stepUp ? {} : { remember: pending.remember === true }), ...(pending.ts !== undefined ? { ts: pending.ts } : {}) },
      ...(pending.provider ? { federation: { provider: pending.provider } } : {}),
    };
  }

  // ── Enrolment during sign-in ───────────────────────────────────────────

  /**
   * Enrolment here is for an account with no factor: one with a factor
   * proves it instead (a password alone must never add a factor, or replace
   * the one it has). After this interaction's enrolment (`enrolled`), only
   * the continue step remains.
   */
  async function requireNoFactor(ctx: InteractionContext, next: Next): Promise<void> {
    const pending = ctx.state.pending!;
    if (pending.enrolled) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    if ((await factorsOf(pending.accountId)).any) {
      ctx.status = 303;
      return ctx.redirect(`${ctx.state.base}/second-factor`);
    }
    await next();
  }

  async function showEnrolment(ctx: InteractionContext): Promise<void> {
    const { base, csrf, pending } = ctx.state;
    const account = (await deps.accounts.findActive(pending!.accountId))!;
    const options = await passkeys.registrationOptions({ id: account.id, email: account.email, name: account.name });
    deps.pages.render(ctx, 'mfa-enrol', ctx.state.locale, {
      clientName: ctx.state.clientName,
      totpHref: `${base}/enrol/totp`,
      passkeyAction: `${base}/enrol/passkey`,
      passkeyOptions: JSON.stringify(options),
      abortAction: `${base}/abort`,
      csrf,
      scripts: ['webauthn.js'],
    });
  }

  /** The set-up page: a new secret, or (after a wrong code) the same one, so that the app already holding it still works. */
  async function renderTotpSetup(ctx: InteractionContext, options: { error?: string; status?: number; again?: boolean } = {}): Promise<void> {
    const { base, csrf, pending } = ctx.state;
    const account = { id: pending!.accountId, email: pending!.email };
    const enrolment = (options.again ? await mfa.pendingTotpEnrolment(account) : undefined) ?? await mfa.startTotpEnrolment(account);
    deps.pages.render(ctx, 'mfa-totp-setup', ctx.state.locale, {
      action: `${base}/enrol/totp`, csrf, svg: enrolment.svg, groupedSecret: enrolment.groupedSecret, cancelHref: `${base}/enrol`, cancelLabel: 'mfa.enrol.otherWay', error: options.error,
    }, options.status);
  }

  function showTotpSetup(ctx: InteractionContext): Promise<void> {
    return renderTotpSetup(ctx);
  }

  /** A correct first code makes the factor; then the recovery codes, once, and the continue button. */
  async function confirmTotpSetup(ctx: InteractionContext, next: Next): Promise<void> {
    const parsed = totpForm.safeParse(ctx.request.body);
    const pending = ctx.state.pending!;
    const confirmed = parsed.success ? await mfa.confirmTotp(pending.accountId, parsed.data.code, seen(ctx)) : 'invalid';
    if (confirmed !== 'ok') return renderTotpSetup(ctx, { error: t(ctx)(confirmed === 'no_enrolment' ? 'mfa.setup.expired' : 'mfa.setup.wrongCode'), status: 400, again: true });
    ctx.state.enrolledMethods = ['otp'];
    await next();
  }

  async function registerPasskey(ctx: InteractionContext, next: Next): Promise<void> {
    const parsed = passkeyForm.safeParse(ctx.request.body);
    const pending = ctx.state.pending!;
    try {
      if (!parsed.success) throw new PasskeyRefusedError('malformed');
      const stored = await passkeys.register(pending.accountId, parsed.data.webauthn_response, parsed.data.name);
      // Registration asks for user verification (passkeys.ts): the new key and the check that unlocked it.
      ctx.state.enrolledMethods = passkeyMethods({ deviceType: stored.deviceType, userVerified: true });
    } catch (err) {
      if (!(err instanceof PasskeyRefusedError)) throw err;
      await deps.audit.record('mfa.challenge_failed', { accountId: pending.accountId, ...seen(ctx), details: { method: 'passkey_registration', reason: err.reason } });
      return deps.pages.notice(ctx, 'mfa_passkey_refused', { locale: ctx.state.locale, status: err.reason === 'malformed' ? 400 : 401, link: { href: `${ctx.state.base}/enrol`, label: 'mfa.tryAgain' } });
    }
    await next();
  }

  /** The new factor is noted in the sealed state; the recovery codes are shown once, with a button that finishes the sign-in. */
  async function showRecoveryCodesAfterEnrolment(ctx: InteractionContext): Promise<void> {
    const pending = { ...ctx.state.pending!, enrolled: ctx.state.enrolledMethods! };
    const { email: _email, ...sealed } = pending as Pending & { email?: string };
    await seal(ctx, sealed);
    const codes = await mfa.regenerateRecoveryCodes(pending.accountId, seen(ctx));
    deps.pages.render(ctx, 'mfa-recovery-codes', ctx.state.locale, { codes, continueAction: `${ctx.state.base}/enrol/done`, csrf: ctx.state.csrf });
  }

  /** The continue button after enrolment: only a pending state that records this interaction's enrolment gets here. */
  async function continueAfterEnrolment(ctx: InteractionContext, next: Next): Promise<void> {
    if (!ctx.state.pending!.enrolled?.length) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    await next();
  }

  // ── Password-less ──────────────────────────────────────────────────────

  /** The login page's "Sign in with a passkey": its options (a stored challenge), or undefined when passkeys cannot be used here. */
  async function passwordlessOptions(): Promise<string> {
    return JSON.stringify(await passkeys.authenticationOptions());
  }

  /**
   * A discoverable passkey with user verification: the account it names
   * signs in, with both factors in one (amr hwk|swk + user + mfa). Failures
   * count against the IP, as sign-ups do (no account is known to count against).
   */
  async function signInWithPasskey(ctx: InteractionContext, next: Next): Promise<void> {
    const wait = await deps.throttle.attempt(`passkey:${ctx.ip}`, ctx.ip);
    const page = (status: number, key: string) => deps.pages.notice(ctx, key, { locale: ctx.state.locale, status, link: { href: ctx.state.base, label: 'mfa.tryAgain' } });
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      return page(429, 'mfa_passkey_throttled');
    }
    const parsed = passkeyForm.safeParse(ctx.request.body);
    let used;
    try {
      if (!parsed.success) throw new PasskeyRefusedError('malformed');
      used = await passkeys.authenticate(parsed.data.webauthn_response);
    } catch (err) {
      if (!(err instanceof PasskeyRefusedError)) throw err;
      await deps.audit.record('login.failure', { ...seen(ctx), details: { method: 'passkey', reason: err.reason } });
      return page(err.reason === 'malformed' ? 400 : 401, 'mfa_passkey_refused');
    }
    const account = await deps.accounts.findActive(used.accountId);
    if (!account) {
      await deps.audit.record('login.failure', { ...seen(ctx), accountId: used.accountId, details: { method: 'passkey', reason: 'account_disabled' } });
      return page(401, 'mfa_passkey_refused');
    }
    await deps.audit.record('login.success', { ...seen(ctx), accountId: account.id, details: { method: 'passkey' } });
    await deps.throttle.succeeded(`passkey:${ctx.ip}`, ctx.ip);
    ctx.state.accountId = account.id;
    ctx.state.pending = { uid: ctx.state.interaction.uid, accountId: account.id, methods: [], remember: rememberChosen(parsed.data?.remember), email: account.email };
    ctx.state.secondMethods = passkeyMethods(used);
    await next();
  }

  return {
    requireSecondFactor, loadPending, showSecondFactor, invalidSecondFactor, throttleSecondFactor, checkSecondFactor, completeSignIn,
    requireNoFactor, showEnrolment, showTotpSetup, confirmTotpSetup, registerPasskey, showRecoveryCodesAfterEnrolment, continueAfterEnrolment,
    passwordlessOptions, signInWithPasskey,
  };
}

/** Whether the claims parameter (OpenID Connect Core §5.5.1.1) asks for the MFA level as an essential `acr` of the ID token. */
function essentialAcrAsks(claims: unknown): boolean {
  let parsed: unknown = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return false;
    }
  }
  const acr = (parsed as { id_token?: { acr?: { essential?: unknown; value?: unknown; values?: unknown } } } | undefined)?.id_token?.acr;
  if (!acr || acr.essential !== true) return false;
  return acr.value === ACR_MFA || (Array.isArray(acr.values) && acr.values.length > 0 && acr.values.every((v) => v === ACR_MFA));
}

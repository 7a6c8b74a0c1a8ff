// The account page's second factors (issue 16, points 1–3 and 6), beside the
// page itself (account.ts), under <issuer path>/account:
//   GET  /mfa/totp                     starts a TOTP enrolment: QR code, the secret as text, a code field
//   POST /mfa/totp                     confirms it with a code; the first time, shows the recovery codes once
//   POST /mfa/totp/remove              removes the authenticator app
//   POST /mfa/recovery-codes           ten new codes (the old ones void), shown once
//   GET  /mfa/passkeys/new             "Add a passkey": a name and the WebAuthn ceremony (views/assets/webauthn.js)
//   POST /mfa/passkeys                 registers the passkey the browser made
//   POST /mfa/passkeys/:id/rename      renames one of the account's passkeys
//   POST /mfa/passkeys/:id/remove      removes one
// Every POST carries the account session's CSRF token (account-session.ts).
// Changes answer with a redirect back to the page (`?mfa=<outcome>`, one of
// a fixed list of strings); the pages that show a secret or codes once are
// answered directly (they cannot be fetched again). The services audit
// enrolment, removal, codes and registration (mfa.ts, passkeys.ts); a rename
// is audited here.
//
// The three pages (mfa-totp-setup, mfa-recovery-codes, mfa-passkey-add) take
// only their own locals, so the sign-in can show them too.
import Router from '@koa/router';
import type { Context } from 'koa';
import { ValidationError } from '../errors.ts';
import type { Locale } from '../i18n.ts';
import type { MfaAuditContext, MfaService } from '../mfa/mfa.ts';
import { PASSKEY_CHALLENGE_TTL_SECONDS, PASSKEY_NAME_MAX, PasskeyRefusedError, type Passkeys } from '../mfa/passkeys.ts';
import type { Audit } from '../services/audit.ts';
import type { Pages } from '../views/pages.ts';
import { accountSession, type AccountSessionDependencies, type SignedIn } from './account-session.ts';

/** How many recovery codes a set holds (mfa/recovery-codes.ts makes ten). */
const RECOVERY_CODES_PER_SET = 10;

/** What `?mfa=` may say on the account page: each has a string `mfa.outcome.<key>`. */
export const MFA_OUTCOMES = ['totp_enabled', 'totp_removed', 'recovery_codes_saved', 'passkey_added', 'passkey_renamed', 'passkey_removed'] as const;
type Outcome = (typeof MFA_OUTCOMES)[number];

/**
 * The challenge handed to this browser for "Add a passkey": a signed cookie
 * (app.keys), so that a registration is accepted only from the browser that
 * asked for it, on top of the service's own binding to the account and single
 * use (docs/passkeys.md, "Challenges").
 */
const CHALLENGE_COOKIE = 'tollgate.passkey_challenge';

export interface MfaDependencies {
  mfa: MfaService;
  passkeys: Passkeys;
  audit: Audit;
}

interface Dependencies extends AccountSessionDependencies, MfaDependencies {}

type When = (d: Date | undefined) => string | undefined;

/** The "Two-step verification" section's data for views/account.eta. */
export async function mfaSection(ctx: Context, who: SignedIn, deps: MfaDependencies & { pages: Pages; prefix: string }, locale: Locale, when: When) {
  const base = `${deps.prefix}/account`;
  const [factors, passkeys] = await Promise.all([deps.mfa.factorsOf(who.account.id), deps.passkeys.list(who.account.id)]);
  const t = deps.pages.translator(locale);
  const outcome = typeof ctx.query.mfa === 'string' && (MFA_OUTCOMES as readonly string[]).includes(ctx.query.mfa) ? ctx.query.mfa : undefined;
  return {
    totp: factors.totp ? { since: when(factors.totp.confirmedAt), lastUsed: when(factors.totp.lastUsedAt ?? undefined) } : null,
    setupHref: `${base}/mfa/totp`,
    removeTotpAction: `${base}/mfa/totp/remove`,
    recoveryCodes: factors.recoveryCodes ? { remaining: factors.recoveryCodes.remaining, of: RECOVERY_CODES_PER_SET } : null,
    // Codes stand in for a second factor: offered once there is one to stand in for.
    canGenerateCodes: factors.totp !== null || passkeys.length > 0,
    generateCodesAction: `${base}/mfa/recovery-codes`,
    passkeys: passkeys.map((p, i) => ({
      id: p.id,
      index: i,
      name: p.name,
      createdAt: when(p.createdAt),
      lastUsed: when(p.lastUsedAt ?? undefined),
      synced: p.deviceType === 'multiDevice',
      renameAction: `${base}/mfa/passkeys/${encodeURIComponent(p.id)}/rename`,
      removeAction: `${base}/mfa/passkeys/${encodeURIComponent(p.id)}/remove`,
    })),
    passkeyNameMax: PASSKEY_NAME_MAX,
    addPasskeyHref: `${base}/mfa/passkeys/new`,
    ...(outcome ? { message: t(`mfa.outcome.${outcome}`) } : {}),
  };
}

/** A form field as posted: a string, or undefined (absent, or a repeated or nested field). */
const field = (ctx: Context, name: string): string | undefined => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
};

export function accountMfaRoutes(deps: Dependencies): Router {
  const base = `${deps.prefix}/account`;
  const router = new Router();
  const { current, signInFirst, authorised, csrfFor } = accountSession(deps);

  const seen = (ctx: Context): MfaAuditContext => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });
  const backWith = (ctx: Context, outcome: Outcome) => {
    ctx.status = 303;
    ctx.redirect(`${base}?mfa=${outcome}#two-step`);
  };

  /** Codes are shown once, on the answer to the POST that made them: nothing can fetch them again. */
  const codesPage = (ctx: Context, codes: string[], continueHref: string) =>
    deps.pages.render(ctx, 'mfa-recovery-codes', deps.pages.localeOf(ctx), { codes, continueHref });

  // ---- TOTP ----

  const totpPage = (ctx: Context, who: SignedIn, enrolment: { svg: string; groupedSecret: string }, error?: string, status = 200) => {
    const locale = deps.pages.localeOf(ctx);
    deps.pages.render(ctx, 'mfa-totp-setup', locale, {
      action: `${base}/mfa/totp`, csrf: csrfFor(who), svg: enrolment.svg, groupedSecret: enrolment.groupedSecret,
      cancelHref: `${base}#two-step`, ...(error ? { error } : {}),
    }, status);
  };

  router.get('/mfa/totp', async (ctx) => {
    const who = await current(ctx);
    if (!who) return signInFirst(ctx);
    // A new secret each time: an app set up from an earlier page keeps working only if that one is confirmed.
    totpPage(ctx, who, await deps.mfa.startTotpEnrolment(who.account));
  });

  router.post('/mfa/totp', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const t = deps.pages.translator(deps.pages.localeOf(ctx));
    const result = await deps.mfa.confirmTotp(who.account.id, field(ctx, 'code'), seen(ctx));
    if (result === 'invalid') {
      // The same secret again: the person has scanned it already.
      const pending = await deps.mfa.pendingTotpEnrolment(who.account);
      if (pending) return totpPage(ctx, who, pending, t('mfa.totp.wrongCode'), 400);
    }
    if (result !== 'ok') {
      // Expired (or replaced from another tab): a fresh secret, and the page says to scan again.
      return totpPage(ctx, who, await deps.mfa.startTotpEnrolment(who.account), t('mfa.totp.expired'), 400);
    }
    // The first factor: its recovery codes, shown once. A later re-enrolment keeps the codes the person has.
    if ((await deps.mfa.factorsOf(who.account.id)).recoveryCodes === null) {
      return codesPage(ctx, await deps.mfa.regenerateRecoveryCodes(who.account.id, seen(ctx)), `${base}?mfa=totp_enabled#two-step`);
    }
    backWith(ctx, 'totp_enabled');
  });

  router.post('/mfa/totp/remove', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    if (!await deps.mfa.removeTotp(who.account.id, seen(ctx))) return deps.pages.error(ctx, 'not_found', 404);
    backWith(ctx, 'totp_removed');
  });

  // ---- Recovery codes ----

  router.post('/mfa/recovery-codes', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    codesPage(ctx, await deps.mfa.regenerateRecoveryCodes(who.account.id, seen(ctx)), `${base}?mfa=recovery_codes_saved#two-step`);
  });

  // ---- Passkeys ----

  const passkeyPage = async (ctx: Context, who: SignedIn, error?: string, status = 200) => {
    const options = await deps.passkeys.registrationOptions(who.account);
    ctx.cookies.set(CHALLENGE_COOKIE, options.challenge, {
      signed: true, httpOnly: true, sameSite: 'lax', path: `${base}/mfa/passkeys`, maxAge: PASSKEY_CHALLENGE_TTL_SECONDS * 1000, overwrite: true,
    });
    deps.pages.render(ctx, 'mfa-passkey-add', deps.pages.localeOf(ctx), {
      action: `${base}/mfa/passkeys`, csrf: csrfFor(who), options: JSON.stringify(options), cancelHref: `${base}#two-step`, ...(error ? { error } : {}),
    }, status);
  };

  router.get('/mfa/passkeys/new', async (ctx) => {
    const who = await current(ctx);
    if (!who) return signInFirst(ctx);
    await passkeyPage(ctx, who);
  });

  router.post('/mfa/passkeys', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const t = deps.pages.translator(deps.pages.localeOf(ctx));
    const expected = ctx.cookies.get(CHALLENGE_COOKIE, { signed: true });
    try {
      // No challenge of this browser's: nothing it posts can answer one (WebAuthn §13.4.3).
      if (!expected) throw new PasskeyRefusedError('challenge');
      await deps.passkeys.register(who.account.id, field(ctx, 'webauthn_response') ?? '', field(ctx, 'name'), expected);
    } catch (err) {
      if (err instanceof PasskeyRefusedError) return passkeyPage(ctx, who, t(`mfa.passkey.refused.${err.reason}`), err.status);
      if (err instanceof ValidationError) return passkeyPage(ctx, who, t('mfa.passkey.invalidName', { max: PASSKEY_NAME_MAX }), 400);
      throw err;
    }
    ctx.cookies.set(CHALLENGE_COOKIE, null, { path: `${base}/mfa/passkeys`, overwrite: true });
    backWith(ctx, 'passkey_added');
  });

  router.post('/mfa/passkeys/:id/rename', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    const id = ctx.params.id!;
    let renamed;
    try {
      renamed = await deps.passkeys.rename(who.account.id, id, field(ctx, 'name') ?? '');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return deps.pages.notice(ctx, 'mfa_passkey_name_invalid', { status: 400, vars: { max: PASSKEY_NAME_MAX }, link: { href: `${base}#two-step`, label: 'mfa.backToAccount' } });
    }
    if (!renamed) return deps.pages.error(ctx, 'not_found', 404);
    // The name itself stays out of the trail (it is the person's own text).
    await deps.audit.record('passkey.renamed', { accountId: who.account.id, ...seen(ctx), details: { credential_id: id, by: 'account page' } });
    backWith(ctx, 'passkey_renamed');
  });

  router.post('/mfa/passkeys/:id/remove', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    if (!await deps.passkeys.remove(who.account.id, ctx.params.id!)) return deps.pages.error(ctx, 'not_found', 404);
    backWith(ctx, 'passkey_removed');
  });

  return router;
}

// Passkeys (issue 16, point 3): WebAuthn Level 3 registration and
// authentication, as a second factor after a password and as the only
// factor (discoverable credentials). The ceremonies' cryptography and the
// checks of WebAuthn §7.1 / §7.2 (origin, RP ID hash, challenge, flags,
// signature, counter) are @simplewebauthn/server's; this service decides
// what is asked for, keeps the challenges single-use, binds them to a purpose
// and an account, and stores the credentials (repositories/
// webauthn-credential-repository.ts).
//
// The pages call it with the JSON the browser script (views/assets/
// webauthn.js) posts; any refusal is a PasskeyRefusedError (4xx), never a
// 500. See docs/passkeys.md.
import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type {
  AuthenticationResponseJSON, AuthenticatorTransport, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import { ConflictError, ValidationError } from '../errors.ts';
import type { WebauthnCredential, WebauthnCredentialRepository } from '../repositories/webauthn-credential-repository.ts';
import type { Audit } from '../services/audit.ts';
import { PasskeyRefusedError, type PasskeyRefusal } from './passkey-refusal.ts';

export { PasskeyRefusedError, PASSKEY_REFUSALS, type PasskeyRefusal } from './passkey-refusal.ts';
export type { WebauthnCredential } from '../repositories/webauthn-credential-repository.ts';

/** How long a challenge may be answered: time to find the authenticator and unlock it (WebAuthn §15.1 recommends 5 minutes for UV). */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 300;
/** A passkey's name, as its owner gives it. */
export const PASSKEY_NAME_MAX = 64;

/** What a challenge was handed out for; a response is verified only for the same one. */
type Purpose = 'registration' | 'second_factor' | 'passwordless';

/** A passkey as the account page lists it: no key material. */
export interface PasskeySummary {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  /** Synced (`multiDevice`, may be backed up) or bound to one authenticator (`singleDevice`). */
  readonly deviceType: 'singleDevice' | 'multiDevice';
  readonly backedUp: boolean;
  readonly transports: readonly string[];
}

/** A verified passkey authentication. */
export interface PasskeyAuthentication {
  /** The account the credential is registered to (for password-less sign-in: the account that signs in). */
  readonly accountId: string;
  readonly credentialId: string;
  /** The authenticator verified the person (PIN, biometrics): always true for password-less. */
  readonly userVerified: boolean;
  /**
   * For the `amr` claim (RFC 8176 §2): a single-device credential's key is
   * held in hardware (`hwk`); a synced one may live in software (`swk`).
   */
  readonly deviceType: 'singleDevice' | 'multiDevice';
}

export interface PasskeyAccount {
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
}

export interface Passkeys {
  /**
   * Options for `navigator.credentials.create()` (WebAuthn §5.4) to register
   * a passkey on `account`: a discoverable credential (residentKey required)
   * with user verification required, so that the same passkey can later sign
   * in with no password; the account's own passkeys excluded (an
   * authenticator that holds one says so instead of making a second). The
   * challenge is stored, bound to this account, for 5 minutes.
   */
  registrationOptions(account: PasskeyAccount): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /**
   * Verifies the browser's answer to registrationOptions and stores the
   * passkey under `name` (trimmed; empty: "Passkey"). `response` is the
   * credential's JSON (an object or its text). `expectedChallenge`, when
   * given (the challenge this browser was handed, e.g. kept in its
   * interaction), must be the one answered. PasskeyRefusedError: malformed,
   * challenge (unknown, spent, expired, another account's or purpose),
   * origin, rp_id, user_verification, invalid, already_registered;
   * ValidationError for a bad name.
   */
  register(accountId: string, response: unknown, name?: string, expectedChallenge?: string): Promise<PasskeySummary>;
  /**
   * Options for `navigator.credentials.get()`. With `accountId` (second
   * factor after a password): allowCredentials lists the account's passkeys,
   * user verification preferred; PasskeyRefusedError `no_credentials` when it
   * has none. Without (password-less): no allowCredentials, so the
   * authenticator offers its discoverable credentials for this RP ID, and
   * user verification required. The challenge is stored for 5 minutes,
   * bound to the purpose and the account.
   */
  authenticationOptions(options?: { accountId?: string }): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /**
   * Verifies an assertion. With `accountId` (second factor): the challenge
   * must be that account's second-factor challenge and the credential that
   * account's (`wrong_account` otherwise). Without: the challenge must be a
   * password-less one; the credential names the account (its user handle
   * must agree) and user verification is required. In both: the challenge is
   * spent whatever the outcome; origin (ISSUER's), RP ID, signature and
   * counter are checked; a counter that does not grow is refused (`counter`)
   * and the counter and last-used time are updated in one statement.
   */
  authenticate(response: unknown, options?: { accountId?: string; expectedChallenge?: string }): Promise<PasskeyAuthentication>;
  /** The account's passkeys, oldest first. */
  list(accountId: string): Promise<PasskeySummary[]>;
  /** NotFoundError-free: undefined when the account has no such passkey. ValidationError for a bad name. */
  rename(accountId: string, id: string, name: string): Promise<PasskeySummary | undefined>;
  /** Whether the account had it; it signs in no more. */
  remove(accountId: string, id: string): Promise<boolean>;
  /** Removes every passkey of the account (the operator's reset of factors); how many. `context.actor`: the operator, for the audit trail. */
  removeAll(accountId: string, context?: { actor?: string; ip?: string; userAgent?: string }): Promise<number>;
}

export interface PasskeyOptions {
  readonly repository: WebauthnCredentialRepository;
  /** ISSUER: its origin is the only one accepted (never the request's Host header). */
  readonly issuer: string;
  /** RP_ID (config.webauthn.rpId). */
  readonly rpId: string;
  /** RP_NAME, or the brand. */
  readonly rpName: string;
  readonly audit?: Pick<Audit, 'record'>;
  /** Clock for challenge expiry (tests). */
  readonly now?: () => number;
}

// WebAuthn §5.1.8 (toJSON): base64url strings. Bounded, so a huge body is refused before any decoding.
const b64u = z.string().max(16_384).regex(/^[A-Za-z0-9_-]*$/);
const registrationResponse = z.object({
  id: b64u.min(1), rawId: b64u.min(1), type: z.literal('public-key'),
  response: z.object({ clientDataJSON: b64u, attestationObject: b64u, transports: z.array(z.string().max(32)).max(16).optional() }).loose(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
}).loose();
const authenticationResponse = z.object({
  id: b64u.min(1), rawId: b64u.min(1), type: z.literal('public-key'),
  response: z.object({ clientDataJSON: b64u, authenticatorData: b64u, signature: b64u, userHandle: b64u.optional() }).loose(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
}).loose();

const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

/** The response as an object of the expected shape, or a `malformed` refusal. */
function parse<T>(schema: z.ZodType<T>, response: unknown): T {
  let value = response;
  if (typeof value === 'string') {
    if (value.length > 65_536) throw new PasskeyRefusedError('malformed');
    try {
      value = JSON.parse(value);
    } catch {
      throw new PasskeyRefusedError('malformed');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new PasskeyRefusedError('malformed');
  return parsed.data;
}

/** The challenge the browser signed over, from clientDataJSON (WebAuthn §5.8.1). */
function challengeOf(clientDataJSON: string): string {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    if (typeof data.challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(data.challenge)) return data.challenge;
  } catch { /* below */ }
  throw new PasskeyRefusedError('malformed');
}

/** Maps the library's refusal (an Error whose message names the failed check) to ours; its message is not shown. */
function refusalOf(err: unknown): PasskeyRefusal {
  const message = err instanceof Error ? err.message : '';
  if (/origin/i.test(message)) return 'origin';
  if (/RP ID/i.test(message)) return 'rp_id';
  if (/counter/i.test(message)) return 'counter';
  if (/User verification/i.test(message)) return 'user_verification';
  if (/challenge/i.test(message)) return 'challenge';
  if (/base64url|was not a|missing|Unexpected credential type|Unexpected .* response type/i.test(message)) return 'malformed';
  return 'invalid';
}

/** A user handle from the account id (WebAuthn §14.6.1: no personal data; the UUID's 16 bytes). */
const userHandleOf = (accountId: string) => Buffer.from(accountId.replace(/-/g, ''), 'hex');

function cleanName(name: string | undefined): string {
  const trimmed = (name ?? '').trim();
  if (trimmed === '') return 'Passkey';
  // eslint-disable-next-line no-control-regex
  if (trimmed.length > PASSKEY_NAME_MAX || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new ValidationError(`a passkey's name is at most ${PASSKEY_NAME_MAX} characters, without control characters`, { name: 'invalid' });
  }
  return trimmed;
}

const summaryOf = (c: WebauthnCredential): PasskeySummary => ({
  id: c.id, name: c.name, createdAt: c.createdAt, lastUsedAt: c.lastUsedAt, deviceType: c.deviceType, backedUp: c.backedUp, transports: c.transports,
});

export function createPasskeys(options: PasskeyOptions): Passkeys {
  const { repository, rpId, rpName, audit } = options;
  const expectedOrigin = new URL(options.issuer).origin;
  const now = options.now ?? Date.now;

  const handOut = async (purpose: Purpose, accountId: string | null) => {
    // 32 random bytes (WebAuthn §13.4.3 asks for at least 16).
    const bytes = randomBytes(32);
    const challenge = bytes.toString('base64url');
    await repository.saveChallenge({ challenge, purpose, accountId, expiresAt: new Date(now() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000) });
    // As bytes: the library would take a string for UTF-8 text and encode it again.
    return new Uint8Array(bytes);
  };

  /** Spends the challenge the response answers; refuses it unless it is live, for `purpose` and `accountId`. */
  const spend = async (clientDataJSON: string, purpose: Purpose, accountId: string | null, expected?: string) => {
    const challenge = challengeOf(clientDataJSON);
    if (expected !== undefined && expected !== challenge) throw new PasskeyRefusedError('challenge');
    const stored = await repository.takeChallenge(challenge);
    if (!stored || stored.purpose !== purpose || stored.accountId !== accountId || stored.expiresAt.getTime() <= now()) {
      throw new PasskeyRefusedError('challenge');
    }
    return challenge;
  };

  return {
    async registrationOptions(account) {
      const existing = await repository.listByAccount(account.id);
      const challenge = await handOut('registration', account.id);
      return generateRegistrationOptions({
        rpName, rpID: rpId, userName: account.email, userDisplayName: account.name ?? account.email,
        userID: new Uint8Array(userHandleOf(account.id)),
        challenge,
        timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
        // No attestation: Tollgate trusts no authenticator model over another, and "none" asks nothing of the person (§5.4.7).
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.id, transports: [...c.transports] as AuthenticatorTransport[] })),
        authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
        // Ask the browser to say whether the credential is discoverable (credProps, §10.1.3).
        extensions: { credProps: true },
      });
    },

    async register(accountId, response, name, expectedChallenge) {
      const label = cleanName(name);
      const body = parse(registrationResponse, response) as unknown as RegistrationResponseJSON;
      const challenge = await spend(body.response.clientDataJSON, 'registration', accountId, expectedChallenge);
      let verified;
      try {
        verified = await verifyRegistrationResponse({
          response: body, expectedChallenge: challenge, expectedOrigin, expectedRPID: rpId, requireUserVerification: true,
        });
      } catch (err) {
        throw new PasskeyRefusedError(refusalOf(err));
      }
      if (!verified.verified) throw new PasskeyRefusedError('invalid');
      const { credential, credentialDeviceType, credentialBackedUp, aaguid } = verified.registrationInfo;
      try {
        const stored = await repository.insert({
          id: credential.id, accountId, publicKey: Buffer.from(credential.publicKey).toString('base64url'), counter: credential.counter,
          transports: (body.response.transports ?? []).filter((t) => TRANSPORTS.has(t)), name: label,
          deviceType: credentialDeviceType, backedUp: credentialBackedUp, aaguid,
        });
        await audit?.record('passkey.registered', { accountId, details: { credential_id: stored.id, device_type: stored.deviceType } });
        return summaryOf(stored);
      } catch (err) {
        if (err instanceof ConflictError) throw new PasskeyRefusedError('already_registered');
        throw err;
      }
    },

    async authenticationOptions({ accountId } = {}) {
      if (accountId === undefined) {
        const challenge = await handOut('passwordless', null);
        return generateAuthenticationOptions({ rpID: rpId, challenge, timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000, userVerification: 'required' });
      }
      const credentials = await repository.listByAccount(accountId);
      // An empty allowCredentials would mean "any discoverable credential": never for a second factor.
      if (credentials.length === 0) throw new PasskeyRefusedError('no_credentials');
      const challenge = await handOut('second_factor', accountId);
      return generateAuthenticationOptions({
        rpID: rpId, challenge, timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
        allowCredentials: credentials.map((c) => ({ id: c.id, transports: [...c.transports] as AuthenticatorTransport[] })),
        // The password was the first factor: possession is the second; UV is welcome, not demanded.
        userVerification: 'preferred',
      });
    },

    async authenticate(response, { accountId, expectedChallenge } = {}) {
      const body = parse(authenticationResponse, response) as unknown as AuthenticationResponseJSON;
      const passwordless = accountId === undefined;
      const challenge = await spend(body.response.clientDataJSON, passwordless ? 'passwordless' : 'second_factor', accountId ?? null, expectedChallenge);
      const credential = await repository.find(body.id);
      if (!credential) throw new PasskeyRefusedError('unknown_credential');
      if (!passwordless && credential.accountId !== accountId) throw new PasskeyRefusedError('wrong_account');
      // §7.2 step 6: a user handle, when given, must name the credential's owner.
      const handle = body.response.userHandle;
      if (handle && !Buffer.from(handle, 'base64url').equals(userHandleOf(credential.accountId))) throw new PasskeyRefusedError('wrong_account');
      let verified;
      try {
        verified = await verifyAuthenticationResponse({
          response: body, expectedChallenge: challenge, expectedOrigin, expectedRPID: rpId,
          credential: {
            id: credential.id, publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')), counter: credential.counter,
            transports: [...credential.transports] as AuthenticatorTransport[],
          },
          requireUserVerification: passwordless,
        });
      } catch (err) {
        const reason = refusalOf(err);
        if (reason === 'counter') await audit?.record('passkey.counter_regression', { accountId: credential.accountId, details: { credential_id: credential.id } });
        throw new PasskeyRefusedError(reason);
      }
      if (!verified.verified) throw new PasskeyRefusedError('invalid');
      const info = verified.authenticationInfo;
      // The library compared with the counter read above; the UPDATE compares again, so of two racing uses one wins.
      const used = await repository.recordUse(credential.id, credential.accountId, { counter: info.newCounter, backedUp: info.credentialBackedUp });
      if (!used) {
        if (!(await repository.find(credential.id))) throw new PasskeyRefusedError('unknown_credential');
        await audit?.record('passkey.counter_regression', { accountId: credential.accountId, details: { credential_id: credential.id } });
        throw new PasskeyRefusedError('counter');
      }
      return { accountId: credential.accountId, credentialId: credential.id, userVerified: info.userVerified, deviceType: info.credentialDeviceType };
    },

    async list(accountId) {
      return (await repository.listByAccount(accountId)).map(summaryOf);
    },
    async rename(accountId, id, name) {
      const renamed = await repository.rename(accountId, id, cleanName(name));
      return renamed && summaryOf(renamed);
    },
    async remove(accountId, id) {
      const removed = await repository.remove(accountId, id);
      if (removed) await audit?.record('passkey.removed', { accountId, details: { credential_id: id } });
      return removed;
    },
    async removeAll(accountId, context) {
      const n = await repository.removeAll(accountId);
      if (n) await audit?.record('passkey.removed', { accountId, ...context, details: { all: true, count: n } });
      return n;
    },
  };
}

// Why a passkey ceremony was refused: one type, a reason code per cause, a
// 4xx, and a fixed message (the library's own messages quote the origin and
// challenge it saw: they go to the log at most, never to the person).
import { TollgateError } from '../errors.ts';

export const PASSKEY_REFUSALS = {
  /** The response is not a WebAuthn credential in its JSON form (WebAuthn Level 3 §5.1.8 toJSON), or undecodable. */
  malformed: 'The passkey response could not be read.',
  /** The challenge was never handed out, is spent (single use), expired, or was made for another purpose or account. */
  challenge: 'This passkey request has expired or was already used. Please try again.',
  /** The browser ran the ceremony on another origin than the issuer's (a phishing page, or a mis-deployment). */
  origin: 'This passkey was used on another site.',
  /** The authenticator signed for another RP ID. */
  rp_id: 'This passkey belongs to another site.',
  /** No such credential is registered (never, or removed). */
  unknown_credential: 'This passkey is not registered.',
  /** The credential is registered to another account than the one signing in. */
  wrong_account: 'This passkey belongs to another account.',
  /** The signature counter did not grow: a cloned authenticator, or a replay (WebAuthn §6.1.1). */
  counter: 'This passkey could not be verified (its counter went backwards). It may have been copied.',
  /** The authenticator did not verify the person (PIN, biometrics) where that is required. */
  user_verification: 'This passkey did not verify you (PIN or biometrics). Please try again.',
  /** The signature or attestation does not verify. */
  invalid: 'This passkey could not be verified.',
  /** Registering a credential that is registered already. */
  already_registered: 'This passkey is registered already.',
  /** Second factor asked for an account that has no passkey. */
  no_credentials: 'This account has no passkey.',
} as const;

export type PasskeyRefusal = keyof typeof PASSKEY_REFUSALS;

/** A refused registration or authentication: `reason` says which rule; status 400 (409 for `already_registered`). */
export class PasskeyRefusedError extends TollgateError {
  constructor(readonly reason: PasskeyRefusal) {
    super('passkey_refused', PASSKEY_REFUSALS[reason], reason === 'already_registered' ? 409 : 400);
  }
}

// What a sign-in proved, as the ID token and access tokens state it:
// `amr` (RFC 8176 §2, the methods) and `acr` (OpenID Connect Core §2, the
// level). Two levels, both advertised in discovery's acr_values_supported:
// one factor, or two (or a passkey with user verification, which is two in
// one: the key held, and the PIN or biometric that unlocked it).
import type { PasskeyAuthentication } from './passkeys.ts';

// The two values are the resource-server toolkit's (its requireAcr compares them), so that both sides name them once.
import { ACR_MFA, ACR_SFA } from '../resource-server/acr.ts';

export { ACR_MFA, ACR_SFA };
/** Weakest first, as discovery lists them. */
export const ACR_VALUES = [ACR_SFA, ACR_MFA] as const;

/** RFC 8176 values we state. `fed` (federation) is ours: the RFC registers none for it. */
export type AuthenticationMethod = 'pwd' | 'fed' | 'otp' | 'hwk' | 'swk' | 'user' | 'mfa';

/**
 * A passkey's methods: its key, held in hardware (`hwk`, a credential bound
 * to one authenticator) or possibly in software (`swk`, a synced passkey,
 * which the platform copies between devices); and `user` when the
 * authenticator verified the person. WebAuthn says that it verified (the UV
 * flag), not how, so neither `pin` nor `fpt` is claimed.
 */
export function passkeyMethods(used: Pick<PasskeyAuthentication, 'deviceType' | 'userVerified'>): AuthenticationMethod[] {
  return [used.deviceType === 'singleDevice' ? 'hwk' : 'swk', ...(used.userVerified ? ['user' as const] : [])];
}

/** Something held: a one-time code's device, a passkey's key. */
const POSSESSION = new Set(['otp', 'hwk', 'swk']);
/** Something known or shown (a password, the check a passkey made), or a sign-in elsewhere. */
const OTHER_FACTOR = new Set(['pwd', 'fed', 'user']);

/**
 * The sign-in's `amr` and `acr` from the methods used, in order, without
 * repeats. `mfa` (RFC 8176: "multiple-factor authentication") when
 * something held was used with something else: a password or a social
 * sign-in and a code or a passkey, or a passkey that verified its user.
 * A password and a social sign-in together (linking an identity) are not
 * two factors: neither is held.
 */
export function signInLevel(methods: readonly string[]): { amr: string[]; acr: string } {
  const amr = [...new Set(methods.filter((m) => m !== 'mfa'))];
  const multi = amr.some((m) => POSSESSION.has(m)) && amr.some((m) => OTHER_FACTOR.has(m));
  return multi ? { amr: [...amr, 'mfa'], acr: ACR_MFA } : { amr, acr: ACR_SFA };
}

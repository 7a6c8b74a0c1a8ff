// Whether one sign-in must use a second factor (issue 16, point 4): the
// operator's MFA_POLICY, the account's roles and the client's own
// `require_mfa` metadata. Pure, so that the sign-in step, the account page
// and tests all ask the same question the same way.
import type { MfaPolicy } from '../config.ts';

/** The role MFA_POLICY=admins applies to: the one that opens the admin API (routes/admin/index.ts). */
export const ADMIN_ROLE = 'admin';

/**
 * - `everyone`: always;
 * - `admins`: for accounts with the `admin` role, or when the client demands it;
 * - `optional`: only when the client demands it (`require_mfa`); a person who
 *   enrolled a factor is asked for it anyway, but that is the sign-in's
 *   choice, not a requirement (this answers "must", not "may").
 */
export function mfaRequiredFor(policy: MfaPolicy, roles: readonly string[], clientRequiresMfa: boolean): boolean {
  if (clientRequiresMfa || policy === 'everyone') return true;
  return policy === 'admins' && roles.includes(ADMIN_ROLE);
}

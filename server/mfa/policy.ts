// MFA_POLICY: who must have a second factor to sign in.
export type MfaPolicy = 'optional' | 'admins' | 'everyone';

/** Whether a sign-in of an account with these roles, to a client that may demand it, must use a second factor. */
export function mfaRequiredFor(policy: MfaPolicy, roles: readonly string[], clientRequiresMfa: boolean): boolean {
  if (clientRequiresMfa || policy === 'everyone') return true;
  return policy === 'admins' && roles.includes('admin');
}

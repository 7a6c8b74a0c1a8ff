// A check of oidc-provider's login prompt (its interaction policy): a
// session that signed in with one factor, where two are asked for, must
// prove a second one. Asked for by MFA_POLICY (everyone, or admins), by the
// client (require_mfa metadata), or by the request: `acr_values` naming the
// MFA level. (An essential `acr` in the claims parameter is the library's
// own check, `essential_acr`.) The interaction then shows only the second
// step (routes/interaction/second-factor.ts, a step-up); a person who has
// no factor yet sets one up.
//
// `acr_values` is a voluntary request in OpenID Connect Core §3.1.2.1; we
// honour it as a requirement, as RFC 9470 (step-up) clients expect: a
// client that asks for the MFA level gets it, or no sign-in.
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_MFA } from '../mfa/sign-in-levels.ts';
import type { MfaPolicy } from '../config.ts';
import { mfaRequiredFor } from '../mfa/policy.ts';
import { REQUIRE_MFA_METADATA } from './configuration.ts';
import { rolesOf } from './find-account.ts';

export function secondFactorCheck(policy: MfaPolicy): interactionPolicy.Check {
  const { Check } = interactionPolicy;
  return new Check('second_factor_required', 'a second authentication factor is required', 'login_required', (ctx: KoaContextWithOIDC) => {
    const { oidc } = ctx;
    // No session (or an account gone): the library's own checks prompt for a whole sign-in.
    if (!oidc.session?.accountId || !oidc.account || oidc.session.acr === ACR_MFA) return Check.NO_NEED_TO_PROMPT;
    const asked = String(oidc.params?.acr_values ?? '').split(' ').includes(ACR_MFA);
    const clientRequires = (oidc.client as unknown as Record<string, unknown> | undefined)?.[REQUIRE_MFA_METADATA] === true;
    return asked || mfaRequiredFor(policy, rolesOf(oidc.account), clientRequires) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
  });
}

// `--require-dpop` for an API (issue 17, point 3; docs/apis.md): a token for
// that API is issued only to a request with a DPoP proof (RFC 9449 §5), so
// every token for it is bound to a key (`cnf.jkt`). oidc-provider has the
// rule per client (`dpop_bound_access_tokens`, §5.2) but no hook per
// resource, so Tollgate checks it where the library resolves the resource
// (getResourceServerInfo, oidc/configuration.ts) and, for the refresh grant,
// before the library rotates the refresh token (rotateRefreshToken): a
// refusal there must not spend it, or the client's retry with a proof would
// look like a replay and revoke the whole grant.
//
// The library validates a proof, when there is one, before either point is
// reached (lib/actions/grants/*.js: validateDpop comes first), so a DPoP
// header here is a valid proof; an invalid one was already answered
// invalid_dpop_proof.
//
// The refusal is `invalid_request` (RFC 6749 §5.2: a required part of the
// request is missing), not the library's invalid_grant of the per-client
// rule: clients take invalid_grant to mean that their code or refresh
// token is dead, and this one is not.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ApiResourceRecord } from '../repositories/api-resource-repository.ts';

export type ApiLookup = (identifier: string) => Promise<ApiResourceRecord | undefined>;

export function assertDpopProofFor(ctx: KoaContextWithOIDC, api: ApiResourceRecord): void {
  if (api.requireDpop && !ctx.get('DPoP')) throw new errors.InvalidRequest('a DPoP proof is required for tokens for this resource');
}

/**
 * Before a refresh token is rotated: the resource the new access token will
 * be for (the `resource` parameter, or what the refresh token was granted;
 * lib/helpers/resolve_resource.js) must not be an API that requires DPoP,
 * unless the request carries a proof.
 */
export async function assertDpopForRefresh(ctx: KoaContextWithOIDC, lookup: ApiLookup): Promise<void> {
  if (ctx.get('DPoP')) return;
  const refreshToken = ctx.oidc.entities.RefreshToken as { resource?: string | string[] } | undefined;
  const asked = ctx.oidc.params?.resource;
  const resources = [asked ?? refreshToken?.resource].flat().filter((r): r is string => typeof r === 'string');
  for (const resource of resources) {
    const api = await lookup(resource);
    if (api) assertDpopProofFor(ctx, api);
  }
}

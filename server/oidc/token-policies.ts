// Who may learn about a token (RFC 7662 introspection) and who may revoke it
// (RFC 7009), stated once and applied both by oidc-provider to its opaque
// tokens (features.introspection.allowedPolicy, features.revocation.allowedPolicy)
// and by oidc/structured-tokens.ts to our JWT access tokens:
//  - introspection: the client the token was issued to; or a resource server,
//    a confidential client registered with the audiences it serves
//    (INTROSPECTION_AUDIENCES_METADATA), for tokens whose `aud` names one of
//    them (RFC 7662 §4: "the authorization server MUST determine whether the
//    protected resource is allowed to introspect the token"). Anyone else
//    hears `active: false`, as for a token that does not exist, so asking
//    reveals nothing (RFC 7662 §2.2).
//  - revocation: the client the token was issued to only (RFC 7009 §2.1).
//    Another client's request is answered 200 and changes nothing, as for an
//    unknown token, so that it learns nothing either.
// Registering the policies also keeps the library from printing its notice
// that its default policies are in use.
import { errors } from 'oidc-provider';

/**
 * Client metadata: the audiences (resource indicators, RFC 8707) whose access
 * tokens this client, as the resource server behind them, may introspect.
 * Only for confidential clients: a resource server authenticates.
 */
export const INTROSPECTION_AUDIENCES_METADATA = 'introspection_audiences';

const MAX_AUDIENCES = 20;

/** The client as the policies see it: the library's Client model carries its metadata as properties. */
export interface PolicyClient {
  clientId: string;
  clientAuthMethod?: string;
  [INTROSPECTION_AUDIENCES_METADATA]?: unknown;
}

/** The token as the policies see it: whom it was issued to and for which audience. */
export interface PolicyToken {
  clientId?: string;
  aud?: string | string[];
}

export function mayIntrospect(client: PolicyClient, token: PolicyToken): boolean {
  if (token.clientId !== undefined && token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  const served = client[INTROSPECTION_AUDIENCES_METADATA];
  if (!Array.isArray(served) || !served.length || token.aud === undefined) return false;
  const audiences = Array.isArray(token.aud) ? token.aud : [token.aud];
  return audiences.some((aud) => served.includes(aud));
}

export function mayRevoke(client: PolicyClient, token: PolicyToken): boolean {
  return token.clientId !== undefined && token.clientId === client.clientId;
}

/** The extraClientMetadata validator's part for INTROSPECTION_AUDIENCES_METADATA (oidc/configuration.ts). */
export function validateIntrospectionAudiences(value: unknown, metadata: { token_endpoint_auth_method?: unknown }): void {
  if (value === undefined) return;
  const name = INTROSPECTION_AUDIENCES_METADATA;
  if (!Array.isArray(value) || value.length > MAX_AUDIENCES || !value.every((v) => typeof v === 'string' && isResourceIndicator(v))) {
    throw new errors.InvalidClientMetadata(`${name} must be a list of at most ${MAX_AUDIENCES} absolute URIs without fragment (resource indicators)`);
  }
  if (value.length && metadata.token_endpoint_auth_method === 'none') {
    throw new errors.InvalidClientMetadata(`${name} needs a confidential client: a resource server authenticates when it introspects`);
  }
}

/** RFC 8707 §2: an absolute URI, no fragment. */
function isResourceIndicator(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && value.length <= 2000 && !value.includes('#') && /^https?:$/.test(url.protocol);
}

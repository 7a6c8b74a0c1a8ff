// A client's registered `scope` (RFC 7591 §2) may list registered APIs'
// scopes: that is how an operator lets a client use an API (docs/apis.md).
// oidc-provider accepts in `scope` only the scopes it was configured with
// (lib/helpers/client_schema.js) and holds a client to `scope` for those
// only (lib/helpers/grant_authorization.js), while APIs are data that
// change at run time. So the library sees a client's `scope` split in two:
// its own scopes stay in `scope`, and the others travel in
// API_SCOPES_METADATA, which getResourceServerInfo reads to limit a token
// for an API to the scopes the client was registered with.

/** Client metadata the library carries for us: the API scopes of the client's registered `scope`. */
export const API_SCOPES_METADATA = 'tollgate_api_scopes';

/**
 * The metadata as the library gets it: `scope` holds the scopes `isOwn`
 * accepts, and `tollgate_api_scopes` the ones `isApi` accepts; anything
 * neither accepts stays in `scope`, for the library to refuse.
 */
export function splitClientScope<M extends Record<string, unknown>>(metadata: M, isOwn: (scope: string) => boolean, isApi: (scope: string) => boolean = () => true): M {
  const { scope } = metadata;
  if (typeof scope !== 'string') return metadata;
  const listed = scope.split(' ').filter(Boolean);
  const api = listed.filter((s) => !isOwn(s) && isApi(s));
  if (!api.length) return metadata;
  const own = listed.filter((s) => !api.includes(s));
  // Without `scope` the library would let the client ask for every one of its
  // scopes: a `scope` of API scopes alone is left whole, for the library to
  // refuse (fail closed; clientScopeProblem says why at registration).
  if (!own.length) return metadata;
  const { scope: _all, ...rest } = metadata;
  return { ...rest, scope: own.join(' '), [API_SCOPES_METADATA]: api } as unknown as M;
}

/** Why a registered `scope` cannot be split: API scopes with none of Tollgate's own beside them. */
export function clientScopeProblem(metadata: Record<string, unknown>, isOwn: (scope: string) => boolean, isApi: (scope: string) => boolean): string | undefined {
  const { scope } = metadata;
  if (typeof scope !== 'string') return undefined;
  const listed = scope.split(' ').filter(Boolean);
  if (!listed.some(isOwn) && listed.some((s) => isApi(s))) return "scope must also list one of Tollgate's own scopes (basic, say) beside an API's";
  return undefined;
}

// The rules a client's registered URIs must satisfy, applied to every
// registration and update (CLI, admin API; the built-in account client is
// checked by the unit test). oidc-provider validates the general shape
// (lib/helpers/client_schema.js) and matches redirect URIs exactly, with any
// port for a native client's loopback URI (lib/models/client.js,
// #redirectAllowed, RFC 8252 §7.3); these rules close what it leaves open:
//
// - RFC 9700 §2.1 and §4.1.3: exact redirect URIs; no wildcard, no userinfo
//   (`https://trusted@evil.example` reads as trusted), no dot-segments (raw
//   or percent-encoded: a path that resolves elsewhere than it reads), no
//   backslash (browsers read it as `/`), no fragment (RFC 6749 §3.1.2).
// - RFC 9700 §4.1.1 / OAuth 2.1: web clients redirect over https; plain
//   http only to the developer's own machine, and only outside production
//   (as Keycloak and Auth0 allow `http://localhost` for development).
// - RFC 8252 (native apps): http only on the loopback IP literals (§7.3;
//   `localhost` is NOT RECOMMENDED, §8.3), private-use schemes in
//   reverse-domain form (§7.1), claimed https URIs (§7.2).
// - OpenID Connect Back-Channel Logout 1.0 §2.2: backchannel_logout_uri
//   absolute, no fragment; we also refuse userinfo and require https in
//   production.
// Messages never repeat the URI: it may carry a password (userinfo).

export type ApplicationType = 'web' | 'native';

/** Which rule set applies: production (NODE_ENV=production) is stricter. */
export interface UriPolicy {
  readonly production: boolean;
}

/** The URI-holding metadata of a client (RFC 7591 names). */
export interface ClientUris {
  application_type?: unknown;
  redirect_uris?: unknown;
  post_logout_redirect_uris?: unknown;
  backchannel_logout_uri?: unknown;
}

/** Loopback IP literals as WHATWG URL writes their hostname; oidc-provider's loopback port exception covers these. */
const LOOPBACK_IP_LITERALS = new Set(['127.0.0.1', '[::1]']);
const LOOPBACK_HOSTS = new Set(['localhost', ...LOOPBACK_IP_LITERALS]);

/** RFC 8252 §7.1: `com.example.app`, a domain the publisher controls, reversed: at least one dot. */
const REVERSE_DOMAIN_SCHEME = /^[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+$/;

/**
 * The form every registered URI must have: absolute, exact, no userinfo, no
 * dot-segment, no backslash, no fragment. Returns the parsed URL, or what is
 * wrong with it.
 */
function parseExact(raw: string): URL | string {
  if (raw.includes('#')) return 'must not contain a fragment (#)';
  if (raw.includes('*')) return 'must be exact: no wildcards (*)';
  if (raw.includes('\\')) return 'must not contain backslashes';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw)?.[1]?.toLowerCase();
  if (!scheme) return 'must be an absolute URI (with a scheme, e.g. https://)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be a valid absolute URI';
  }
  const afterScheme = raw.slice(scheme.length + 1);
  const hasAuthority = afterScheme.startsWith('//');
  // `https:app.example/cb` parses, but not as written.
  if ((scheme === 'http' || scheme === 'https') && !hasAuthority) return `must start with ${scheme}://`;
  const beforeQuery = afterScheme.split('?')[0]!;
  const authorityEnd = hasAuthority ? beforeQuery.indexOf('/', 2) : 0;
  const authority = hasAuthority ? beforeQuery.slice(2, authorityEnd === -1 ? undefined : authorityEnd) : '';
  if (authority.includes('@') || url.username || url.password) return 'must not contain a user name or password (userinfo)';
  const path = hasAuthority ? (authorityEnd === -1 ? '' : beforeQuery.slice(authorityEnd)) : beforeQuery;
  // URL parsing would resolve `/a/../b` (and `%2e%2e`) to `/b`: look at the path as written.
  if (path.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) return 'must not contain dot-segments (. or .., also as %2e)';
  return url;
}

/** What is wrong with one redirect (or post-logout redirect) URI of a client of this type; undefined when nothing. */
export function redirectUriProblem(raw: string, applicationType: ApplicationType, policy: UriPolicy): string | undefined {
  const url = parseExact(raw);
  if (typeof url === 'string') return url;
  const { protocol, hostname } = url;

  if (applicationType === 'web') {
    if (protocol === 'https:') return undefined;
    if (protocol === 'http:' && LOOPBACK_HOSTS.has(hostname)) {
      return policy.production ? 'must use https when NODE_ENV=production (http://localhost is for development only)' : undefined;
    }
    if (protocol === 'http:') return 'must use https (web clients; plain http only for localhost, 127.0.0.1 or [::1], outside production)';
    return 'must be an https URL for a web client (a private-use scheme such as com.example.app:/callback needs application_type native)';
  }

  if (protocol === 'http:') {
    if (LOOPBACK_IP_LITERALS.has(hostname)) return undefined;
    if (hostname === 'localhost') return 'must use the loopback IP literal http://127.0.0.1 or http://[::1], not localhost (RFC 8252 §8.3)';
    return 'may use http only on the loopback addresses 127.0.0.1 and [::1] (RFC 8252 §7.3); use https elsewhere';
  }
  if (protocol === 'https:') {
    return LOOPBACK_HOSTS.has(hostname) ? 'must name a host the app claims (RFC 8252 §7.2), not a loopback one: use http://127.0.0.1 for loopback' : undefined;
  }
  const scheme = protocol.slice(0, -1);
  if (!REVERSE_DOMAIN_SCHEME.test(scheme)) {
    return 'must use a private-use scheme in reverse-domain form, e.g. com.example.app:/callback (RFC 8252 §7.1)';
  }
  return undefined;
}

/** What is wrong with a backchannel_logout_uri; undefined when nothing. */
export function backchannelLogoutUriProblem(raw: string, policy: UriPolicy): string | undefined {
  const url = parseExact(raw);
  if (typeof url === 'string') return url;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return policy.production ? 'must use https when NODE_ENV=production' : undefined;
  return 'must be an https URL';
}

/**
 * Every problem with a client's URIs, by field (`redirect_uris.0`,
 * `backchannel_logout_uri`): the shape ValidationError's `fields` takes.
 * Empty when the client satisfies the rules. Values that are not strings are
 * left to the schema that validates types.
 */
export function clientUriProblems(client: ClientUris, policy: UriPolicy): Record<string, string> {
  const problems: Record<string, string> = {};
  const applicationType: ApplicationType = client.application_type === 'native' ? 'native' : 'web';
  for (const field of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    const uris = client[field];
    if (!Array.isArray(uris)) continue;
    uris.forEach((uri: unknown, index) => {
      const problem = typeof uri === 'string' ? redirectUriProblem(uri, applicationType, policy) : undefined;
      if (problem) problems[`${field}.${index}`] = problem;
    });
  }
  if (typeof client.backchannel_logout_uri === 'string') {
    const problem = backchannelLogoutUriProblem(client.backchannel_logout_uri, policy);
    if (problem) problems.backchannel_logout_uri = problem;
  }
  return problems;
}

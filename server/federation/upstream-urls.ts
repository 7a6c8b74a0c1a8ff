// The rules an upstream provider's URLs must satisfy (issuer and endpoint
// overrides): absolute http(s), no user name or password, no fragment;
// https, except plain http to the loopback host outside production, as for
// clients' redirect URIs (services/redirect-uris.ts) and for the same reason:
// a developer's own machine and the tests. An issuer also has no query
// (OpenID Connect Discovery 1.0 §4: the discovery document sits at
// <issuer>/.well-known/openid-configuration). Messages never repeat the URL:
// it may carry a password.

/** Hostnames as WHATWG URL writes them. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface UrlPolicy {
  readonly production: boolean;
}

/** What is wrong with an endpoint URL; undefined when nothing. */
export function endpointProblem(raw: string, policy: UrlPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL (https://...)';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
  if (!/^https?:\/\//i.test(raw)) return `must start with ${url.protocol}//`;
  if (url.username || url.password) return 'must not contain a user name or password';
  if (raw.includes('#')) return 'must not contain a fragment (#)';
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname)) return 'must use https (plain http only for localhost, 127.0.0.1 or [::1], outside production)';
    if (policy.production) return 'must use https when NODE_ENV=production (http://localhost is for development only)';
  }
  return undefined;
}

/** What is wrong with an issuer URL; undefined when nothing. */
export function issuerProblem(raw: string, policy: UrlPolicy): string | undefined {
  const problem = endpointProblem(raw, policy);
  if (problem) return problem;
  if (raw.includes('?')) return 'must not contain a query (?)';
  return undefined;
}

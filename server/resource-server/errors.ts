// The errors a resource server answers with (RFC 6750 §3.1), as types: the
// middleware turns each into its status, a WWW-Authenticate challenge and an
// OAuth-style JSON body. Nothing here imports Tollgate: this folder ships as
// `tollgate/resource-server` and runs in any Node API.

export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** The request or its token is not acceptable: 400, 401 or 403. */
export class BearerError extends Error {
  readonly status: number;
  /** Shown to the client: these messages name what is wrong, never a secret. */
  readonly expose = true;

  constructor(readonly code: BearerErrorCode, description: string, readonly scope?: string) {
    super(description);
    this.name = 'BearerError';
    this.status = code === 'insufficient_scope' ? 403 : code === 'invalid_request' ? 400 : 401;
  }
}

/**
 * No token at all. 401 with `invalid_token` in the JSON body, but the
 * challenge carries no error code (RFC 6750 §3.1: the client may not have
 * known that authentication was needed).
 */
export class MissingTokenError extends BearerError {
  constructor() {
    super('invalid_token', 'an access token is required');
    this.name = 'MissingTokenError';
  }
}

/**
 * The token could not be checked because the issuer's keys could not be
 * fetched (network, timeout, a non-JWKS answer). Not the client's fault:
 * 503, and the request may be retried.
 */
export class VerifierUnavailableError extends Error {
  readonly status = 503;
  readonly code = 'temporarily_unavailable';
  readonly expose = true;

  constructor(description: string, options?: { cause?: unknown }) {
    super(description, options);
    this.name = 'VerifierUnavailableError';
  }
}

/**
 * The token from `Authorization: Bearer …` (RFC 6750 §2.1). Undefined when
 * there is none, also when the header uses another scheme (§3.1 counts that
 * as no credentials); a malformed Bearer header is invalid_request.
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization || !/^Bearer(\s|$)/i.test(authorization)) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match) throw new BearerError('invalid_request', 'the Authorization header is not a Bearer token');
  return match[1];
}

/**
 * The WWW-Authenticate challenge (RFC 6750 §3). Its quoted values may hold
 * only printable ASCII without `"` and `\` (§3's NQSCHAR), so anything else
 * is replaced here; the JSON body keeps the full text.
 */
export function bearerChallenge(realm: string, err?: BearerError): string {
  const quote = (v: string) => `"${v.replaceAll('"', "'").replaceAll('\\', '/').replace(/[^\x20-\x7E]/g, '?')}"`;
  const parts = [`realm=${quote(realm)}`];
  if (err && !(err instanceof MissingTokenError)) {
    parts.push(`error=${quote(err.code)}`, `error_description=${quote(err.message)}`);
    if (err.scope) parts.push(`scope=${quote(err.scope)}`);
  }
  return `Bearer ${parts.join(', ')}`;
}

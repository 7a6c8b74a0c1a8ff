// The errors a resource server answers with (RFC 6750 §3.1), as types: the
// middleware turns each into its status, a WWW-Authenticate challenge and an
// OAuth-style JSON body. Nothing here imports Tollgate: this folder ships as
// `tollgate/resource-server` and runs in any Node API.

export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'insufficient_user_authentication';

/** The authentication scheme a challenge names: RFC 6750's Bearer, or RFC 9449's DPoP. */
export type TokenScheme = 'Bearer' | 'DPoP';

/** The request or its token is not acceptable: 400, 401 or 403. */
export class BearerError extends Error {
  readonly status: number;
  /** Shown to the client: these messages name what is wrong, never a secret. */
  readonly expose = true;
  /**
   * The scheme of the challenge that answers it: DPoP when the token is
   * bound to a key or came with the DPoP scheme (RFC 9449 §7.1), so the
   * client learns to send a proof.
   */
  readonly scheme: TokenScheme;

  constructor(readonly code: BearerErrorCode, description: string, readonly scope?: string, scheme: TokenScheme = 'Bearer') {
    super(description);
    this.name = 'BearerError';
    this.scheme = code === 'invalid_dpop_proof' ? 'DPoP' : scheme;
    // RFC 9449 §7.1: a bad proof is answered like a bad token, 401.
    this.status = code === 'insufficient_scope' ? 403 : code === 'invalid_request' ? 400 : 401;
  }
}

/**
 * The token is good, but the sign-in behind it is not strong or recent
 * enough (RFC 9470 §3): 401 `insufficient_user_authentication`, with the
 * `acr_values` (in order of preference) and/or `max_age` (seconds) the client
 * should ask the authorization server for in a new authorization request.
 */
export class InsufficientUserAuthenticationError extends BearerError {
  constructor(description: string, readonly acrValues?: readonly string[], readonly maxAge?: number, scheme: TokenScheme = 'Bearer') {
    super('insufficient_user_authentication', description, undefined, scheme);
    this.name = 'InsufficientUserAuthenticationError';
  }
}

/** A DPoP-bound token presented without a valid proof of its key, or a bad proof (RFC 9449 §7.1): 401 with a DPoP challenge. */
export class DpopError extends BearerError {
  constructor(code: 'invalid_token' | 'invalid_dpop_proof' | 'invalid_request', description: string) {
    super(code, description, undefined, 'DPoP');
    this.name = 'DpopError';
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

/** An access token as the Authorization header presents it, with its scheme. */
export interface PresentedToken {
  scheme: TokenScheme;
  token: string;
}

/**
 * The token from `Authorization: Bearer …` (RFC 6750 §2.1) or
 * `Authorization: DPoP …` (RFC 9449 §7.1), both token68. Undefined when the
 * header is absent or uses another scheme; a malformed one is invalid_request.
 */
export function presentedToken(authorization: string | undefined): PresentedToken | undefined {
  if (!authorization) return undefined;
  const scheme = /^(Bearer|DPoP)(\s|$)/i.exec(authorization)?.[1];
  if (!scheme) return undefined;
  const match = /^(?:Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  const named: TokenScheme = scheme.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  if (!match) {
    throw named === 'DPoP'
      ? new DpopError('invalid_request', 'the Authorization header is not a DPoP token')
      : new BearerError('invalid_request', 'the Authorization header is not a Bearer token');
  }
  return { scheme: named, token: match[1]! };
}

/**
 * The WWW-Authenticate challenges for an error (RFC 6750 §3, RFC 9449 §7.1).
 * With DPoP accepted (`dpopAlgorithms` given), a request without a token
 * hears of both schemes, and an error in the DPoP scheme names the proof
 * algorithms accepted (`algs`), the ones the issuer's discovery advertises.
 */
export function challengesFor(
  realm: string,
  err: BearerError | undefined,
  options: { dpopAlgorithms?: readonly string[]; presentedScheme?: TokenScheme; dpopOnly?: boolean } = {},
): string[] {
  const { dpopAlgorithms, presentedScheme } = options;
  if (!dpopAlgorithms) return [bearerChallenge(realm, err)];
  const algs = `algs="${dpopAlgorithms.join(' ')}"`;
  // An API that takes bound tokens only offers no Bearer scheme (RFC 9449 §7.1).
  if (options.dpopOnly) return [`DPoP ${challengeParameters(realm, err).join(', ')}, ${algs}`];
  if (!err || err instanceof MissingTokenError) return [bearerChallenge(realm, err), `DPoP realm=${quote(realm)}, ${algs}`];
  // A token sent with the DPoP scheme is answered in that scheme, whatever went wrong (a missing scope too).
  if (err.scheme === 'Bearer' && presentedScheme !== 'DPoP') return [bearerChallenge(realm, err)];
  return [`DPoP ${challengeParameters(realm, err).join(', ')}, ${algs}`];
}

/**
 * The WWW-Authenticate challenge (RFC 6750 §3). Its quoted values may hold
 * only printable ASCII without `"` and `\` (§3's NQSCHAR), so anything else
 * is replaced here; the JSON body keeps the full text.
 */
export function bearerChallenge(realm: string, err?: BearerError): string {
  return `Bearer ${challengeParameters(realm, err).join(', ')}`;
}

function challengeParameters(realm: string, err?: BearerError): string[] {
  const parts = [`realm=${quote(realm)}`];
  if (err && !(err instanceof MissingTokenError)) {
    parts.push(`error=${quote(err.code)}`, `error_description=${quote(err.message)}`);
    if (err.scope) parts.push(`scope=${quote(err.scope)}`);
    // RFC 9470 §3: how to satisfy the resource server in the next authorization request.
    if (err instanceof InsufficientUserAuthenticationError) {
      if (err.acrValues?.length) parts.push(`acr_values=${quote(err.acrValues.join(' '))}`);
      if (err.maxAge !== undefined) parts.push(`max_age=${quote(String(err.maxAge))}`);
    }
  }
  return parts;
}

const quote = (v: string) => `"${v.replaceAll('"', "'").replaceAll('\\', '/').replace(/[^\x20-\x7E]/g, '?')}"`;

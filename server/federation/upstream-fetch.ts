// Every HTTP request Tollgate makes to an upstream provider (discovery, JWKS,
// token, userinfo, GitHub's and Naver's user APIs) goes through `upstreamFetch`:
// - a 5 s budget per request (issue 15: an unreachable or slow upstream is a
//   page at Tollgate, not a hanging sign-in);
// - oidc-provider's own SSRF guard (lib/helpers/fetch_request.js), unless
//   ALLOW_PRIVATE_NETWORK_FETCH: an operator's typo or a hostile discovery
//   document cannot make Tollgate call its own network;
// - no redirects followed (openid-client asks for `redirect: 'manual'`);
// - the OAuth 2.0 presets' quirk made standard: GitHub and Naver answer a
//   failed token request with HTTP 200 and an `error` member, where RFC 6749
//   §5.2 says 400. openid-client (rightly) reads a 200 as a success, and would
//   report only a missing access_token; rewritten to 400 here, where the quirk
//   is named, the refusal (bad_verification_code, invalid_request...) is what
//   the log says. (Naver's string `expires_in` needs nothing: openid-client's
//   oauth4webapi reads a numeric string as the number.)
import { applySSRFProtection } from 'oidc-provider/lib/helpers/fetch_request.js';
import type { CustomFetch } from 'openid-client';

export const UPSTREAM_TIMEOUT_MS = 5_000;

interface Dispatcher { on(event: 'connect', listener: (origin: unknown, targets: unknown[]) => void): unknown }

/** An undici Agent with the SSRF guard, made as oidc-provider makes its own (Node's fetch is undici's). */
function guardedDispatcher(): Dispatcher | undefined {
  // Node loads its undici (and sets the global dispatcher read below) on first use of a fetch global; before
  // any fetch in the process there is none, and the guard would be left off for good. oidc-provider's getAgent() does the same.
  void Response;
  const global = globalThis as Record<symbol, { constructor: new () => Dispatcher } | undefined>;
  const Agent = (global[Symbol.for('undici.globalDispatcher.2')] ?? global[Symbol.for('undici.globalDispatcher.1')])?.constructor;
  return Agent ? applySSRFProtection(new Agent()) : undefined;
}

export interface UpstreamFetchOptions {
  allowPrivateNetworkFetch: boolean;
  timeoutMs?: number;
}

export function createUpstreamFetch(options: UpstreamFetchOptions): CustomFetch {
  // Node's own fetch has a global dispatcher once it has made one request; make one if it has not.
  let dispatcher: Dispatcher | undefined | null = options.allowPrivateNetworkFetch ? null : undefined;
  const timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
  return async (url, init) => {
    if (dispatcher === undefined) {
      // Fail closed: without its guard, no request to an upstream leaves (the sign-in shows "unavailable").
      dispatcher = guardedDispatcher();
      if (!dispatcher) throw new TypeError('fetch failed', { cause: new Error('no SSRF-guarded dispatcher could be made for upstream requests') });
    }
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(init.signal ? [init.signal] : [])]);
    const response = await fetch(url, { ...init, signal, ...(dispatcher ? { dispatcher } : {}) } as RequestInit);
    // The only POSTs openid-client makes here are to token endpoints.
    return init.method === 'POST' ? normaliseTokenResponse(response) : response;
  };
}

/** GitHub's and Naver's token errors in RFC 6749's shape: status 400. */
async function normaliseTokenResponse(response: Response): Promise<Response> {
  if (response.status !== 200 || !(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new Response(text, { status: response.status, headers: { 'content-type': response.headers.get('content-type')! } });
  }
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const fields = body as Record<string, unknown>;
    if (typeof fields.error === 'string' && fields.access_token === undefined) {
      return Response.json(fields, { status: 400 });
    }
  }
  return new Response(text, { status: response.status, headers: { 'content-type': response.headers.get('content-type')! } });
}

// Token-handler mode: `<prefix>/api/*` is forwarded to the configured API
// with the access token attached, so the token never reaches the browser at
// all (OAuth 2.0 for Browser-Based Applications §6.1). The request and the
// answer are streamed as they are, but for what must not cross: the
// browser's cookies and credentials do not go to the API, the API's
// cookies do not come back, and hop-by-hop headers (RFC 9110 §7.6.1) stay
// on their hop.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BFF_HEADER } from './same-origin.ts';
import { sendError } from './respond.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
// What the browser says of its own route (forwarded, x-forwarded-*) is not the BFF's to vouch for.
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'cookie', 'authorization', 'dpop', BFF_HEADER, 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
// The BFF grants no CORS: an API that reflects Origin with credentials must not undo that through the proxy.
const NOT_RETURNED = new Set([...HOP_BY_HOP, 'set-cookie']);
const isCors = (name: string) => name.startsWith('access-control-');
/** An API that has not answered by then is a 504, not a request held open. */
const UPSTREAM_TIMEOUT_MS = 30_000;

function filtered(headers: IncomingHttpHeaders, drop: Set<string>): Record<string, string | string[]> {
  // RFC 9110 §7.6.1: the headers a Connection header names are for this hop too.
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((n) => n.trim()).filter(Boolean));
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !drop.has(name) && !named.has(name) && !(drop === NOT_RETURNED && isCors(name))) kept[name] = value;
  }
  return kept;
}

/**
 * The API's URL for the path under the proxy (`rest` starts with `/` or is
 * empty) and the query string; undefined when it would leave the API's
 * origin or its path (`//other.example/`, `\\other.example`, `..`): the
 * access token goes to the configured API and nowhere else.
 */
export function targetUrl(target: URL, rest: string, search: string): URL | undefined {
  const base = target.pathname.replace(/\/+$/, '');
  const url = new URL(target.href);
  url.pathname = `${base}${rest || '/'}`;
  url.search = search;
  if (url.origin !== target.origin || !(url.pathname === base || url.pathname.startsWith(`${base}/`))) return undefined;
  return url;
}

/** How the access token goes to the API: `Bearer`, or `DPoP` with its proof (RFC 9449 §7.1). */
export type Credentials = { authorization: string; dpop?: string };

/** Forwards the request; resolves when the answer has been streamed back (or an error answered). */
export function forward(req: IncomingMessage, res: ServerResponse, url: URL, credentials: Credentials, cookies: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = send(url, { method: req.method, headers: { ...filtered(req.headers, NOT_FORWARDED), ...credentials } }, (answer) => {
      const headers = filtered(answer.headers, NOT_RETURNED);
      if (cookies.length > 0) headers['set-cookie'] = [...cookies];
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
      answer.on('end', resolve);
      answer.on('error', () => { res.destroy(); resolve(); });
    });
    upstream.setTimeout(UPSTREAM_TIMEOUT_MS, () => upstream.destroy(new Error('timeout')));
    // The browser went away: so does the request to the API.
    res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
    upstream.on('error', (err) => {
      if (!res.headersSent) sendError(res, err.message === 'timeout' ? 504 : 502, err.message === 'timeout' ? 'gateway_timeout' : 'bad_gateway', 'the API could not be reached', cookies);
      else res.destroy();
      resolve();
    });
    req.pipe(upstream);
  });
}

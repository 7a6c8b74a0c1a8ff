// The Node request handler. Precomputed public documents (JWKS, discovery)
// are answered here directly, with the same security headers, request id and
// log line as every other response, because they are the hottest requests
// and Koa's per-request context costs more than serving them. Everything
// else goes to the Koa app. Every request's target is put in origin form
// first: URLs are built from ISSUER, never from the request (issuer-origin.ts).
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type Koa from 'koa';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { PrecomputedDocuments } from './precomputed-documents.ts';
import { logRequest, requestIdFrom } from './middleware/koa-request-log.ts';
import { securityHeaders } from './middleware/koa-security-headers.ts';
import { normaliseRequestTarget } from './middleware/issuer-origin.ts';

export function createHttpHandler(options: {
  app: Koa;
  documents: PrecomputedDocuments;
  logger: Logger;
  https: boolean;
  metrics?: Metrics;
}): RequestListener {
  const koa = options.app.callback();
  const headers = securityHeaders({ https: options.https });

  return (req: IncomingMessage, res: ServerResponse) => {
    // X-Forwarded-Host is never read (URLs come from ISSUER), so only Host is checked.
    if (!validHost(req.headers.host)) return refuseHost(req, res, headers, options.logger, options.metrics);
    normaliseRequestTarget(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void koa(req, res);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const doc = options.documents.lookup(path);
    if (!doc) return void koa(req, res);

    const started = process.hrtime.bigint();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', requestId);
    for (const [name, value] of headers) res.setHeader(name, value);
    res.setHeader('Cache-Control', doc.cacheControl);
    res.setHeader('ETag', doc.etag);
    // Public documents, fetched by browser-based clients from any origin (as oidc-provider's CORS.open).
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Content-Type', doc.contentType);
    if (req.headers['if-none-match'] === doc.etag) {
      res.statusCode = 304;
      res.end();
    } else {
      res.setHeader('Content-Length', doc.body.length);
      res.statusCode = 200;
      res.end(req.method === 'HEAD' ? undefined : doc.body);
    }
    logRequest(options.logger, { req_id: requestId, method: req.method, path, route: doc.route, status: res.statusCode, started }, options.metrics);
  };
}


/**
 * RFC 9112 §3.2: a request whose Host is not a valid host[:port] gets 400.
 * Checked before anything builds a URL from it: oidc-provider's
 * OIDCContext#urlFor (new URL(path, ctx.href)) throws on one, which was a 500.
 * The common forms pass a regular expression; only the rest are parsed.
 */
const PLAIN_HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
export function validHost(host: string | undefined): boolean {
  // Absent: HTTP/1.0 (Node's parser already refuses an HTTP/1.1 request without one).
  if (host === undefined) return true;
  let url: URL;
  try {
    url = new URL(`http://${host}/`);
  } catch {
    return false;
  }
  if (PLAIN_HOST.test(host) && url.host !== '') return true;
  return url.host !== '' && url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '';
}

function refuseHost(req: IncomingMessage, res: ServerResponse, headers: ReadonlyArray<readonly [string, string]>, logger: Logger, metrics?: Metrics): void {
  const started = process.hrtime.bigint();
  const requestId = requestIdFrom(req.headers['x-request-id']);
  res.setHeader('X-Request-Id', requestId);
  for (const [name, value] of headers) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.statusCode = 400;
  res.end(JSON.stringify({ error: 'invalid_request', error_description: 'the Host header is not a valid host' }));
  const url = req.url ?? '/';
  logRequest(logger, { req_id: requestId, method: req.method ?? '', path: url.split('?')[0]!, route: 'invalid_host', status: 400, started }, metrics);
}


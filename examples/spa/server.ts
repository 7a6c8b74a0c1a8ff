// The example single-page app's server: node:http serving the page
// (index.html, app.js, app.css, under a Content-Security-Policy that allows
// the app's own scripts only) and mounting tollgate/bff under /bff, with
// the notes API (examples/notes-api.ts) behind it twice:
//   /bff/api/*  the BFF's proxy, the access token attached (token-handler mode);
//   /api/*      passed through as it is, for the page's calls with the
//               access token from memory (same origin: no CORS needed).
//
//   ISSUER=http://localhost:3000 CLIENT_ID=notes-web CLIENT_SECRET=… COOKIE_SECRET=… \
//   API_URL=http://localhost:4000 PORT=5173 npx tsx examples/spa/server.ts
//
// (README "Browser apps" has the whole walk-through: Tollgate, the notes API, this.)
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { createBff, type Bff, type BffStore } from 'tollgate/bff';

export interface SpaServerOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  cookieSecret: string | string[];
  /** The notes API, e.g. http://localhost:4000. */
  apiUrl: string;
  /** 0: any free port. */
  port?: number;
  refreshWithin?: number;
  store?: BffStore;
  /** The scopes the page needs: the notes API's `basic` besides sign-in and a refresh token. */
  scope?: string;
  /** DPoP-bound tokens (a client registered with --require-dpop): the page then calls the API through the BFF only. */
  dpop?: boolean;
}

const FILES: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};

// Scripts and styles from this origin only (no inline code), requests to
// this origin only, no framing: an injected script has nowhere to send a token.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async function serveFile(res: ServerResponse, path: string): Promise<boolean> {
  const found = FILES[path];
  if (!found) return false;
  const body = await readFile(new URL(found[0], import.meta.url));
  res.writeHead(200, { 'content-type': found[1], 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' });
  res.end(body);
  return true;
}

/** /api/* to the API as it is, Authorization included; the browser's cookies stay here. */
function passThrough(req: IncomingMessage, res: ServerResponse, apiUrl: URL): void {
  const { cookie: _cookie, host: _host, ...headers } = req.headers;
  const target = new URL(req.url!.slice('/api'.length) || '/', apiUrl);
  const upstream = request(target, { method: req.method, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"bad_gateway"}');
    else res.destroy();
  });
  req.pipe(upstream);
}

export async function startSpaServer(options: SpaServerOptions): Promise<{ origin: string; bff: Bff; close(): Promise<void> }> {
  const apiUrl = new URL(options.apiUrl);
  let bff: Bff | undefined;
  const server = createServer((req, res) => {
    void (async () => {
      if (await bff!.handle(req, res)) return;
      const path = new URL(req.url ?? '/', 'http://app.invalid').pathname;
      if (path.startsWith('/api/')) return passThrough(req, res, apiUrl);
      if (req.method === 'GET' && await serveFile(res, path)) return;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  // Loopback only, named http://localhost: the BFF allows plain HTTP (and cookies without Secure) there only.
  const origin = `http://localhost:${(server.address() as { port: number }).port}`;
  bff = createBff({
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUri: `${origin}/bff/callback`,
    postLogoutRedirectUri: `${origin}/`,
    scope: options.scope ?? 'openid profile email offline_access basic',
    cookieSecret: options.cookieSecret,
    api: { target: apiUrl },
    refreshWithin: options.refreshWithin,
    store: options.store,
    dpop: options.dpop,
    onError: (err) => process.stderr.write(`bff: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  return {
    origin,
    bff,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// Run directly: the configuration comes from the environment.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { ISSUER, CLIENT_ID = 'notes-web', CLIENT_SECRET, COOKIE_SECRET, API_URL = 'http://localhost:4000', PORT = '5173' } = process.env;
  if (!ISSUER || !CLIENT_SECRET || !COOKIE_SECRET) {
    process.stderr.write('set ISSUER (Tollgate), CLIENT_SECRET (the notes-web client\'s) and COOKIE_SECRET (32 bytes or more)\n');
    process.exit(2);
  }
  // One instance: the memory store receives back-channel logouts (several instances: createRedisStore).
  const { createMemoryStore } = await import('tollgate/bff');
  const app = await startSpaServer({ issuer: ISSUER, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, cookieSecret: COOKIE_SECRET, apiUrl: API_URL, port: Number(PORT), store: createMemoryStore() });
  process.stdout.write(`notes app on ${app.origin}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

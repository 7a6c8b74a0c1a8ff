// An API that accepts Tollgate's access tokens, built with the toolkit:
//
//   ISSUER=http://localhost:3000 API_AUDIENCE=http://localhost:3000/api PORT=4000 npx tsx examples/notes-api.ts
//
// - every route needs a valid access token, except GET /health;
// - /notes needs the `basic` scope: each caller sees and writes their own notes;
// - /orgs/:org/members needs the `admin` scope, the `admin` role, and the
//   caller's own organisation (the `org` claim): an administrator of one
//   customer never sees another customer's people.
// It imports the toolkit as any API would: `tollgate/resource-server`.
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { authOf, BearerError, createAccessTokenVerifier, requireAccessToken, requireRole, requireScope, type AuthState } from 'tollgate/resource-server';

export function createNotesApi(options: { issuer: string; audience: string; members: Record<string, string[]> }): Koa<AuthState> {
  const verifier = createAccessTokenVerifier({ issuer: options.issuer, audience: options.audience });
  const notes = new Map<string, string[]>();
  const router = new Router<AuthState>();

  router.get('/health', (ctx) => {
    ctx.body = { ok: true };
  });

  router.get('/notes', requireScope('basic'), (ctx) => {
    ctx.body = { notes: notes.get(authOf(ctx).claims.sub) ?? [] };
  });

  router.post('/notes', requireScope('basic'), (ctx) => {
    const text = (ctx.request.body as { text?: unknown } | undefined)?.text;
    if (typeof text !== 'string' || !text.trim() || text.length > 1000) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'text: 1-1000 characters' };
      return;
    }
    const sub = authOf(ctx).claims.sub;
    notes.set(sub, [...(notes.get(sub) ?? []), text]);
    ctx.status = 201;
    ctx.body = { notes: notes.get(sub) };
  });

  router.get('/orgs/:org/members', requireScope('admin'), requireRole('admin'), (ctx) => {
    const { org } = authOf(ctx).claims;
    if (!org || org !== ctx.params.org) throw new BearerError('insufficient_scope', `this token administers ${org ? `the organisation "${org}"` : 'no organisation'} only`);
    ctx.body = { organisation: org, members: options.members[org] ?? [] };
  });

  const app = new Koa<AuthState>();
  app.use(requireAccessToken({ verifier, public: ['GET /health'] }));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

// Run directly: the configuration comes from the environment.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { ISSUER, API_AUDIENCE, PORT = '4000' } = process.env;
  if (!ISSUER || !API_AUDIENCE) {
    process.stderr.write('set ISSUER (Tollgate\'s issuer) and API_AUDIENCE (its API_AUDIENCE)\n');
    process.exit(2);
  }
  const app = createNotesApi({ issuer: ISSUER, audience: API_AUDIENCE, members: { acme: ['ada@acme.example', 'grace@acme.example'], globex: ['hank@globex.example'] } });
  const server = app.listen(Number(PORT), () => process.stdout.write(`notes API on http://localhost:${PORT}\n`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

// Tracing: with OTEL_EXPORTER_OTLP_ENDPOINT set, `npm start` sends its spans
// to an OTLP/HTTP receiver (this test's own, taking OTLP JSON), continues the
// caller's W3C trace (traceparent), puts the trace id on each request's log
// line, never records a secret in a span, and sends what it still holds when
// it stops. Without the variable no OpenTelemetry module is even loaded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../support/ports.ts';
import { runCli, startServer } from '../support/processes.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';

// Module resolution hooks that append every resolved URL to a file (as test/cli/module-loading.test.ts).
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.TOLLGATE_TEST_IMPORTS, resolved.url + '\\n');
  return resolved;
}`;

interface OtlpValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; arrayValue?: { values: OtlpValue[] } }
interface OtlpAttribute { key: string; value: OtlpValue }
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  scope: string;
  service: string | undefined;
  attributes: Record<string, unknown>;
}
interface ExportRequest {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ scope: { name: string }; spans: Array<Omit<Span, 'scope' | 'attributes' | 'service'> & { attributes?: OtlpAttribute[] }> }>;
  }>;
}

const SERVER_KIND = 2;
const valueOf = (v: OtlpValue): unknown => v.stringValue ?? v.intValue ?? v.boolValue ?? v.arrayValue?.values.map(valueOf);
const attributesOf = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** An OTLP/HTTP receiver: POST /v1/traces with OTLP JSON, kept as received. */
async function startReceiver(): Promise<{ server: Server; url: string; bodies: string[]; spans: () => Span[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(415).end();
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const spans = () => bodies.flatMap((body) => (JSON.parse(body) as ExportRequest).resourceSpans.flatMap((rs) => {
    const service = attributesOf(rs.resource.attributes)['service.name'] as string | undefined;
    return rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, scope: ss.scope.name, service, attributes: attributesOf(s.attributes) })));
  }));
  return { server, url: `http://127.0.0.1:${port}`, bodies, spans };
}

const traceparent = (traceId: string, parentId: string) => `00-${traceId}-${parentId}-01`;
const randomHex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');

const skip = requirePostgres() || requireRedis();
describe('tracing (npm start, PostgreSQL and Redis)', { skip }, () => {
  let pg: PostgresServer;
  let redis: RedisServer;
  let root: string;
  let imports: string;
  let base: Record<string, string>;
  before(async () => {
    pg = await startPostgres();
    redis = await startRedis();
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-tracing-'));
    imports = path.join(root, 'imports.txt');
    await writeFile(path.join(root, 'hooks.mjs'), HOOKS);
    await writeFile(path.join(root, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(root, 'hooks.mjs')).href)});\n`);
    base = {
      KEYS_DIR: path.join(root, 'keys'),
      DATA_DIR: path.join(root, 'unused'),
      DATABASE_URL: await createDatabase(pg, 'tracing'),
      REDIS_URL: redis.url,
    };
    assert.equal((await runCli(['migrate'], base)).code, 0);
  });
  after(async () => {
    await redis.stop();
    pg.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** The packages whose modules the server's ESM loader resolved while `work` ran against it. */
  async function startRecordingImports(env: Record<string, string>) {
    await writeFile(imports, '');
    const server = await startServer({
      ...base,
      ...env,
      NODE_OPTIONS: `--import=${pathToFileURL(path.join(root, 'register.mjs')).href}`,
      TOLLGATE_TEST_IMPORTS: imports,
    });
    const packages = async () => new Set((await readFile(imports, 'utf8')).split('\n')
      .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
      .filter((p): p is string => p !== undefined));
    return { server, packages };
  }

  const requestLines = (output: string) => output.split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>);

  test('a token request continues the caller\'s trace, with database spans beneath; the log line carries its trace id; no secret in any span; spans are flushed on SIGTERM', async () => {
    const receiver = await startReceiver();
    const port = String(await freePort());
    const issuer = `http://localhost:${port}`;
    const machine = await runCli(['clients', 'add', '--id', 'trace-machine', '--grant-types', 'client_credentials', '--scope', 'basic'], base);
    assert.equal(machine.code, 0, machine.stderr);
    const secret = (JSON.parse(machine.stdout) as { client_secret: string }).client_secret;
    const web = await runCli(['clients', 'add', '--id', 'trace-web', '--redirect-uri', 'https://app.example.test/cb'], base);
    assert.equal(web.code, 0, web.stderr);

    const { server, packages } = await startRecordingImports({
      PORT: port,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Nothing leaves before shutdown: what arrives was flushed by it.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const secrets: string[] = [secret, Buffer.from(`trace-machine:${secret}`).toString('base64')];
    const tokenTrace = randomHex(16);
    const callerSpan = randomHex(8);
    const authTrace = randomHex(16);
    const documentTrace = randomHex(16);
    const loginHint = 'someone.private@example.test';
    secrets.push(loginHint);
    try {
      // client_secret_basic, with the caller's trace context.
      const basic = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`trace-machine:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          traceparent: traceparent(tokenTrace, callerSpan),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'basic' }),
      });
      assert.equal(basic.status, 200);
      secrets.push(((await basic.json()) as { access_token: string }).access_token);
      // client_secret_post: the secret in the body.
      const post = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'trace-machine', client_secret: secret, scope: 'basic' }),
      });
      assert.equal(post.status, 200);
      secrets.push(((await post.json()) as { access_token: string }).access_token);
      // An authorization request: its interaction is kept in Redis; its query has a login hint.
      const auth = await fetch(`${issuer}/auth?${new URLSearchParams({ client_id: 'trace-web', response_type: 'code', scope: 'openid', redirect_uri: 'https://app.example.test/cb', login_hint: loginHint, state: 'state-value-1234', nonce: 'nonce-value-5678', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, {
        redirect: 'manual',
        headers: { traceparent: traceparent(authTrace, randomHex(8)) },
      });
      assert.equal(auth.status, 303);
      // Discovery twice: the second is answered from the precomputed copy (http-handler.ts's own log line).
      for (let i = 0; i < 2; i++) {
        const doc = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { traceparent: traceparent(documentTrace, randomHex(8)) } });
        assert.equal(doc.status, 200);
        await doc.arrayBuffer();
      }
    } finally {
      assert.equal(await server.stop(), 0);
      receiver.server.close();
    }
    const spans = receiver.spans();
    assert.ok(receiver.bodies.length > 0, `no spans were exported before exit:\n${server.output()}`);

    // The token request's server span continues the caller's trace; statements run beneath it.
    const tokenSpans = spans.filter((s) => s.traceId === tokenTrace);
    const serverSpan = tokenSpans.find((s) => s.kind === SERVER_KIND);
    assert.ok(serverSpan, `no server span in the caller's trace: ${JSON.stringify(spans.map((s) => [s.traceId, s.name]))}`);
    assert.equal(serverSpan.parentSpanId, callerSpan);
    assert.equal(serverSpan.service, 'tollgate');
    assert.equal(serverSpan.attributes['url.path'], '/token');
    // Named after the route that answered (oidc-provider's route name), not the method alone.
    assert.equal(serverSpan.name, 'POST token');
    assert.equal(serverSpan.attributes['http.response.status_code'], 200);
    const byId = new Map(tokenSpans.map((s) => [s.spanId, s]));
    const under = (s: Span, ancestor: Span): boolean => s.parentSpanId === ancestor.spanId || (byId.has(s.parentSpanId ?? '') && under(byId.get(s.parentSpanId!)!, ancestor));
    const statements = tokenSpans.filter((s) => s.scope === '@opentelemetry/instrumentation-pg');
    assert.ok(statements.length > 0, 'no PostgreSQL span in the token request\'s trace');
    assert.ok(statements.every((s) => under(s, serverSpan)));
    const layers = tokenSpans.filter((s) => s.scope === '@opentelemetry/instrumentation-koa');
    assert.ok(layers.length > 0, 'no Koa span in the token request\'s trace');
    assert.ok(layers.every((s) => under(s, serverSpan) && s.attributes['koa.type'] === 'middleware'));

    // The authorization request's interaction went to Redis: command names only, no keys.
    const authSpans = spans.filter((s) => s.traceId === authTrace);
    const authServer = authSpans.find((s) => s.kind === SERVER_KIND)!;
    assert.ok(authServer);
    assert.equal(authServer.name, 'GET authorization');
    const query = new URLSearchParams(String(authServer.attributes['url.query']));
    assert.equal(query.get('client_id'), 'trace-web');
    assert.equal(query.get('login_hint'), 'REDACTED');
    assert.equal(query.get('state'), 'REDACTED');
    const commands = authSpans.filter((s) => s.scope === '@opentelemetry/instrumentation-redis');
    assert.ok(commands.length > 0, 'no Redis span in the authorization request\'s trace');
    for (const c of commands) assert.match(String(c.attributes['db.query.text'] ?? c.attributes['db.statement']), /^[A-Za-z]+$/);

    // Each request's log line names its trace and server span, the precomputed documents' too.
    const lines = requestLines(server.output());
    const tokenLine = lines.find((l) => l.path === '/token' && l.trace_id === tokenTrace);
    assert.ok(tokenLine, 'the token request\'s log line has no trace_id');
    assert.equal(tokenLine.span_id, serverSpan.spanId);
    const documentLines = lines.filter((l) => l.path === '/.well-known/openid-configuration');
    assert.equal(documentLines.length, 2);
    assert.ok(documentLines.every((l) => l.trace_id === documentTrace));
    assert.ok(lines.every((l) => typeof l.trace_id === 'string'), 'a request line without trace_id');

    // Nothing secret in any span (attributes, events, resource): the whole export is searched.
    const exported = receiver.bodies.join('\n');
    for (const s of secrets) assert.ok(!exported.includes(s), `a span holds a secret: ${s.slice(0, 6)}…`);
    // No header named Authorization, no parameter named client_secret or access_token
    // (oidc-provider's `authorization` route names a span: that word alone is no secret).
    assert.doesNotMatch(exported.replaceAll('"GET authorization"', '""'), /authorization|client_secret|access_token/i);

    // Tracing on loads OpenTelemetry (which shows the import record works).
    assert.ok((await packages()).has('@opentelemetry/sdk-node'));
  });

  test('without an OTLP endpoint no OpenTelemetry module is loaded and log lines carry no trace id', async () => {
    const port = String(await freePort());
    const { server, packages } = await startRecordingImports({ PORT: port });
    try {
      const res = await fetch(`http://localhost:${port}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', traceparent: traceparent(randomHex(16), randomHex(8)) },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'wrong' }),
      });
      assert.equal(res.status, 401);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    const loaded = await packages();
    assert.ok(loaded.has('koa') && loaded.has('pg'), 'the import record works');
    const otel = [...loaded].filter((p) => p.startsWith('@opentelemetry/') || p === 'import-in-the-middle' || p === 'require-in-the-middle');
    assert.deepEqual(otel, []);
    const lines = requestLines(server.output());
    assert.ok(lines.some((l) => l.path === '/token'));
    assert.ok(lines.every((l) => !('trace_id' in l)));
  });
});

// OpenTelemetry tracing, on only when an OTLP endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the
// standard variables; every other OTEL_* variable keeps its standard meaning,
// see docs/tracing.md). Off, this file is all that loads: every OpenTelemetry
// module is imported dynamically below, so no async hook, loader hook or
// patched prototype exists unless tracing was asked for.
//
// On, it must run before the modules it instruments load: main.ts starts it,
// then imports the server. The server is ESM, and ESM imports never pass
// through require, where the instrumentations hook. OpenTelemetry's answer
// for ESM, import-in-the-middle's loader hook (node:module register), runs
// every import of the server through a loader thread: it made start-up about
// twice as slow here (docs/tracing.md). Every package we instrument (node:http,
// koa, pg, redis) is CommonJS underneath its ESM entry, and an ESM import of a
// CommonJS file reuses require's module cache. So they are required here,
// once the instrumentations are enabled: their hooks patch the prototypes
// (Server, Koa, pg's Client, node-redis's client) that the server's imports
// then get. test/flows/tracing.test.ts checks each one still yields spans.
//
// What spans may hold: no request or response header but the user agent (the
// HTTP instrumentation records none unless told), no body (the token
// endpoint's carries the client secret and the code), query values only for
// the parameters below (/auth and /session/end queries carry id_token_hint,
// login_hint, request objects), SQL text without its parameters, Redis
// command names without their keys (keys hold token, code and session ids).
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Attributes } from '@opentelemetry/api';

/** The ids of the trace a request belongs to, for its log line. */
export interface TraceIds {
  trace_id: string;
  span_id: string;
}

export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return false;
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
}

// Replaced once tracing runs; until then a request has no trace.
let traceIdsOfCurrentRequest: () => TraceIds | undefined = () => undefined;
let nameSpanOfCurrentRequest: (method: string, route: string) => void = () => undefined;
let shutdown: (() => Promise<void>) | undefined;

/**
 * The trace and span id of the HTTP server span of the request being
 * handled (whichever Koa middleware span is active), or undefined when
 * tracing is off or no request is in progress.
 */
export function currentTraceIds(): TraceIds | undefined {
  return traceIdsOfCurrentRequest();
}

/**
 * Names the request's server span after the route that answered it (the
 * bounded name of the log line and the metrics: `POST token`,
 * `POST /interaction/:uid/login`), as OpenTelemetry's HTTP conventions ask,
 * instead of the method alone; a path pattern is also its `http.route`.
 * A no-op when tracing is off.
 */
export function nameRequestSpan(method: string, route: string): void {
  nameSpanOfCurrentRequest(method, route);
}

/** Starts tracing when the environment asks for it; true when it did. */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!tracingRequested(env)) return false;

  const [{ NodeSDK }, { HttpInstrumentation }, { KoaInstrumentation }, { PgInstrumentation }, { RedisInstrumentation }, api, core] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-koa'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-redis'),
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
  ]);

  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) wins over ours.
    serviceName: serviceNamed(env) ? undefined : 'tollgate',
    // Traces only: metrics are prom-client's (/metrics), logs are pino's.
    // Without these the SDK would also export metrics and logs over OTLP.
    metricReaders: [],
    logRecordProcessors: [],
    // The exporter, its protocol (OTEL_EXPORTER_OTLP_PROTOCOL, http/protobuf by
    // default), the sampler and the propagators (W3C traceparent and baggage
    // by default) come from the standard variables.
    instrumentations: withoutDisabled(env, [
      new HttpInstrumentation({
        // Probes and scrapes would bury every request in traces of their own.
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has(pathOf(req.url)),
        startIncomingSpanHook: (req) => queryAttributes(req),
      }),
      // A span per middleware layer, ours and oidc-provider's (mostly
      // anonymous): our routers sit inside koa-mount, out of the
      // instrumentation's sight, so the layers are what Koa can show.
      new KoaInstrumentation(),
      // Statements only within a request (not the janitor's or pool's own), text only.
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
      new RedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    ]),
  });
  sdk.start();
  const require = createRequire(import.meta.url);
  for (const name of INSTRUMENTED_PACKAGES) require(name);

  // The HTTP instrumentation leaves its server span in the request's context
  // (the Koa instrumentation finds it there to name it after the route).
  const serverSpan = () => {
    const active = api.context.active();
    return core.getRPCMetadata(active)?.span ?? api.trace.getSpan(active);
  };
  nameSpanOfCurrentRequest = (method, route) => {
    const span = serverSpan();
    if (!span) return;
    span.updateName(`${method} ${route}`);
    if (route.startsWith('/')) span.setAttribute('http.route', route);
  };
  traceIdsOfCurrentRequest = () => {
    const span = serverSpan();
    if (!span) return undefined;
    const { traceId, spanId } = span.spanContext();
    return { trace_id: traceId, span_id: spanId };
  };
  shutdown = () => sdk.shutdown();
  return true;
}

/** Exports the spans still buffered; a no-op when tracing is off. */
export async function stopTracing(): Promise<void> {
  await shutdown?.();
}

/**
 * OTEL_NODE_DISABLED_INSTRUMENTATIONS, as @opentelemetry/auto-instrumentations-node
 * reads it: a comma-separated list of short names (http, koa, pg, redis).
 */
export function withoutDisabled<T extends { instrumentationName: string }>(env: NodeJS.ProcessEnv, instrumentations: T[]): T[] {
  const disabled = new Set((env.OTEL_NODE_DISABLED_INSTRUMENTATIONS ?? '').split(',').map((n) => n.trim()).filter(Boolean));
  return instrumentations.filter((i) => !disabled.has(i.instrumentationName.replace('@opentelemetry/instrumentation-', '')));
}

function serviceNamed(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OTEL_SERVICE_NAME?.trim()) || /(?:^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
}

// Loaded through require once hooked (see the top of this file).
const INSTRUMENTED_PACKAGES = ['node:http', 'koa', 'pg', 'redis'];

const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

// Query parameters whose values say what was asked without being a secret
// or personal data; any other parameter keeps its name, not its value.
const RECORDED_QUERY_PARAMETERS = new Set([
  'client_id', 'response_type', 'response_mode', 'scope', 'prompt', 'display', 'max_age',
  'ui_locales', 'claims_locales', 'acr_values', 'code_challenge_method', 'redirect_uri',
  'post_logout_redirect_uri', 'resource', 'error', 'error_description',
]);
export const REDACTED = 'REDACTED';

/**
 * The HTTP instrumentation's url.query, with every value but the ones above
 * replaced (its own list of redacted parameters is a few cloud signatures).
 * Attributes returned here override the instrumentation's own.
 */
function queryAttributes(req: IncomingMessage): Attributes {
  const target = req.url ?? '';
  const q = target.indexOf('?');
  if (q === -1) return {};
  return { 'url.query': redactQuery(target.slice(q + 1)) };
}

export function redactQuery(query: string): string {
  const params = new URLSearchParams(query);
  const kept = new URLSearchParams();
  for (const [name, value] of params) kept.append(name, RECORDED_QUERY_PARAMETERS.has(name) ? value : REDACTED);
  return kept.toString();
}

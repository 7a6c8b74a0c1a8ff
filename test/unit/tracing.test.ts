// The pure parts of server/tracing.ts: when tracing is on, which query values
// a span may keep, which instrumentations an operator left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactQuery, tracingRequested, withoutDisabled } from '../../server/tracing.ts';

test('tracing is on with an OTLP endpoint (general or for traces) unless the SDK is disabled', () => {
  assert.equal(tracingRequested({}), false);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }), false);
});

test('query values are kept only for harmless parameters', () => {
  const query = redactQuery('client_id=app&scope=openid+email&id_token_hint=eyJhbGciOi.x.y&login_hint=a%40b.test&state=s3cr3t&redirect_uri=https%3A%2F%2Fapp.test%2Fcb');
  assert.deepEqual(Object.fromEntries(new URLSearchParams(query)), {
    client_id: 'app', scope: 'openid email', id_token_hint: 'REDACTED', login_hint: 'REDACTED', state: 'REDACTED', redirect_uri: 'https://app.test/cb',
  });
});

test('OTEL_NODE_DISABLED_INSTRUMENTATIONS leaves out instrumentations by short name', () => {
  const all = ['http', 'koa', 'pg', 'redis'].map((n) => ({ instrumentationName: `@opentelemetry/instrumentation-${n}` }));
  assert.deepEqual(withoutDisabled({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: ' koa,redis ' }, all).map((i) => i.instrumentationName), ['@opentelemetry/instrumentation-http', '@opentelemetry/instrumentation-pg']);
  assert.equal(withoutDisabled({}, all).length, 4);
});

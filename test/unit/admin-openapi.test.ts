// The admin API's OpenAPI document: valid OpenAPI 3.1 (checked by a
// validator we did not write), and the same operations as the router serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { adminApi, type AdminApiDependencies } from '../../server/routes/admin/index.ts';
import { openApiPath } from '../../server/routes/admin/openapi.ts';

// Only the shape is under test here: no request reaches these.
const api = adminApi({ prefix: '', issuer: 'https://id.example.com', verifier: { verify: () => Promise.reject(new Error('unused')) } } as unknown as AdminApiDependencies);
const document = api.document as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>>; security: unknown };

test('the document is valid OpenAPI 3.1', async () => {
  const validator = new Validator();
  const result = await validator.validate(document);
  assert.equal(validator.version, '3.1');
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
});

test('the document lists exactly the operations the router serves', () => {
  const served = new Set<string>();
  for (const layer of api.router.stack) {
    for (const method of layer.methods.filter((m) => m !== 'HEAD')) served.add(`${method} ${openApiPath(String(layer.path).replace(/^\/admin\/v1/, ''))}`);
  }
  const documented = new Set(Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
  assert.deepEqual([...documented].sort(), [...served].sort());
  assert.ok(served.size >= 16, `only ${served.size} operations`);
});

test('every operation needs the admin scope and documents 401 and 403', () => {
  assert.deepEqual(document.security, [{ tollgate: ['admin'] }]);
  for (const [path, ops] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      assert.ok(op.responses['401'] && op.responses['403'], `${method} ${path}`);
      if (path.includes('{')) assert.ok(op.responses['404'], `${method} ${path} has no 404`);
    }
  }
});

// What tollgate/bff hands the app's onError: a copy of the error without its
// cause. openid-client's errors may carry the whole token endpoint response
// in `cause` (a refresh token included), and onError feeds the app's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { reportable } from '../../server/bff/report.ts';

test('onError gets the name, message, stack and OAuth fields of an error, never its cause', () => {
  const secret = 'refresh-token-that-must-not-be-logged';
  const err = Object.assign(new Error('unexpected token endpoint response', { cause: { body: { refresh_token: secret, access_token: secret } } }), {
    name: 'OperationProcessingError', code: 'OAUTH_RESPONSE_IS_NOT_CONFORM', error: 'invalid_grant', error_description: 'grant request is invalid', status: 400,
    response: { body: secret },
  });
  const copy = reportable(err) as Error & Record<string, unknown>;
  assert.equal(copy.message, err.message);
  assert.equal(copy.name, 'OperationProcessingError');
  assert.deepEqual([copy.code, copy.error, copy.error_description, copy.status], ['OAUTH_RESPONSE_IS_NOT_CONFORM', 'invalid_grant', 'grant request is invalid', 400]);
  assert.equal(copy.cause, undefined);
  assert.ok(!inspect(copy, { depth: 10 }).includes(secret));
  assert.ok(!JSON.stringify(copy).includes(secret));
  // A thrown value that is not an Error (a string could be anything) is not passed on.
  assert.doesNotMatch(reportable(secret).message, /refresh-token/);
});

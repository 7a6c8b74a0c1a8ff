// The hosted pages' language (i18n.ts): ui_locales (OpenID Connect Core
// §3.1.2.1), then Accept-Language by q-value (RFC 9110 §12.5.4), then English.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateLocale, translator } from '../../server/i18n.ts';

test('ui_locales comes first, in its order of preference, skipping what we lack', () => {
  assert.equal(negotiateLocale('ko', 'en'), 'ko');
  assert.equal(negotiateLocale('fr ko en', 'en'), 'ko');
  assert.equal(negotiateLocale('ko-KR', undefined), 'ko', 'a region matches its language');
  assert.equal(negotiateLocale('fr', 'ko'), 'ko', 'nothing usable in ui_locales: Accept-Language decides');
  assert.equal(negotiateLocale(['ko'], 'en'), 'en', 'only a string counts (a repeated parameter does not)');
});

test('Accept-Language: highest q first, then the order written; q=0 means not this one', () => {
  assert.equal(negotiateLocale(undefined, 'ko'), 'ko');
  assert.equal(negotiateLocale(undefined, 'ko-KR,en;q=0.5'), 'ko');
  assert.equal(negotiateLocale(undefined, 'en;q=0.5,ko;q=0.8'), 'ko');
  assert.equal(negotiateLocale(undefined, 'fr, ko;q=0.1'), 'ko');
  assert.equal(negotiateLocale(undefined, 'en-GB,ko'), 'en', 'equal q: the first written');
  assert.equal(negotiateLocale(undefined, 'ko;q=0'), 'en');
  assert.equal(negotiateLocale(undefined, 'KO'), 'ko', 'case does not matter');
});

test('a wildcard or a malformed q chooses nothing; English is the default', () => {
  assert.equal(negotiateLocale(undefined, '*'), 'en');
  assert.equal(negotiateLocale(undefined, '*, ko;q=0.5'), 'ko', 'the wildcard picks none of ours; the named language does');
  assert.equal(negotiateLocale(undefined, 'ko;q=abc, en'), 'en');
  assert.equal(negotiateLocale(undefined, 'fr'), 'en');
  assert.equal(negotiateLocale(undefined, undefined), 'en');
  assert.equal(negotiateLocale(undefined, ''), 'en');
});

test('a translator fills {placeholders}, leaves unknown ones, and answers an unknown key with the key itself', () => {
  const en = translator('en');
  assert.equal(en('login.to', { client: 'Photos' }), 'to continue to Photos');
  assert.equal(en('login.to'), 'to continue to {client}');
  assert.equal(en('login.to', { other: 'x' }), 'to continue to {client}');
  assert.equal(translator('ko')('no.such.key'), 'no.such.key');
  assert.notEqual(translator('ko')('error.generic'), en('error.generic'));
});

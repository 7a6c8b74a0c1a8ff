// The names the login page gives providers (server/federation/presets.ts):
// a preset's own name in the page's language, an operator's name as written,
// and Korean's "with" particle (로 / 으로) chosen by the name's last syllable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { githubEmailsEndpoint, koreanWithParticle, PRESETS, providerLabel } from '../../server/federation/presets.ts';

test('providerLabel: a preset under its own name is translated on Korean pages only', () => {
  assert.equal(providerLabel({ type: 'kakao', name: 'Kakao' }, 'ko'), '카카오');
  assert.equal(providerLabel({ type: 'naver', name: 'Naver' }, 'ko'), '네이버');
  assert.equal(providerLabel({ type: 'github', name: 'GitHub' }, 'ko'), '깃허브');
  assert.equal(providerLabel({ type: 'google', name: 'Google' }, 'ko'), '구글');
  for (const type of ['kakao', 'naver', 'github', 'google'] as const) {
    assert.equal(providerLabel({ type, name: PRESETS[type].name! }, 'en'), PRESETS[type].name, type);
  }
});

test('providerLabel: an operator\'s own name is shown as written, in every language', () => {
  assert.equal(providerLabel({ type: 'kakao', name: 'Kakao Work' }, 'ko'), 'Kakao Work');
  assert.equal(providerLabel({ type: 'github', name: 'github' }, 'ko'), 'github', 'not the preset name, letter for letter');
  assert.equal(providerLabel({ type: 'github', name: '사내 깃허브' }, 'en'), '사내 깃허브');
  assert.equal(providerLabel({ type: 'oidc', name: 'Corp' }, 'ko'), 'Corp', 'a generic issuer has no Korean name');
  assert.equal(providerLabel({ type: 'no-such-type', name: 'Legacy' }, 'ko'), 'Legacy', 'an unknown type (a row from a later version) is its name');
});

test('koreanWithParticle: 로 after a vowel or ㄹ, 으로 after any other final consonant', () => {
  assert.equal(koreanWithParticle('카카오'), '카카오로');
  assert.equal(koreanWithParticle('네이버'), '네이버로');
  assert.equal(koreanWithParticle('깃허브'), '깃허브로');
  assert.equal(koreanWithParticle('구글'), '구글로', 'ㄹ takes 로');
  assert.equal(koreanWithParticle('사내 인증'), '사내 인증으로', 'ㅇ takes 으로');
  assert.equal(koreanWithParticle('깃랩'), '깃랩으로');
  assert.equal(koreanWithParticle('가'), '가로', 'the first syllable of the block');
  assert.equal(koreanWithParticle('힣'), '힣으로', 'the last syllable of the block');
});

test('koreanWithParticle: (으)로 when the name does not end in a Hangul syllable', () => {
  assert.equal(koreanWithParticle('Acme SSO'), 'Acme SSO(으)로');
  assert.equal(koreanWithParticle('LINE 2'), 'LINE 2(으)로');
  assert.equal(koreanWithParticle('카카오 (업무)'), '카카오 (업무)(으)로');
  assert.equal(koreanWithParticle('ㅋ'), 'ㅋ(으)로', 'a lone jamo is not a syllable');
  assert.equal(koreanWithParticle(''), '(으)로');
});

test('GitHub\'s e-mails API sits beside its user API, for github.com and Enterprise alike', () => {
  assert.equal(githubEmailsEndpoint('https://api.github.com/user'), 'https://api.github.com/user/emails');
  assert.equal(githubEmailsEndpoint('https://ghe.example.test/api/v3/user/'), 'https://ghe.example.test/api/v3/user/emails');
});

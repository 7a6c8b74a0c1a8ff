// Hostile values: the strings, names, JWTs and cookies an attacker or a
// broken client sends. Each list names what it probes; the generators mix
// them with random text of every Unicode plane and with plausible values,
// so a request gets past some checks before it meets a bad part.
import fc from 'fast-check';

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** Values with a known history of breaking parsers, templates, databases and URL handling. */
export const NASTY_STRINGS: readonly string[] = [
  '', ' ', '\t', '\u0000', 'a\u0000b', '%00', '%', '%ZZ', '%E0%A4%A', '%C0%AE%C0%AE%2F', '%uD800', '%FF%FE',
  '\r\nSet-Cookie: injected=1', '\n', '\r', 'a\u2028b',
  // SQL-ish: the storage layer binds parameters; none of these may surface as an error or as SQL text.
  "' OR '1'='1", "1' OR 1=1 --", '"; DROP TABLE "Account"; --', "'; SELECT pg_sleep(10); --", "') UNION SELECT * FROM \"Client\" --", '$1', '\\', "\\'", '%27',
  // Templates (Eta renders our pages), script and URL tricks.
  '{{7*7}}', '<%= it.csrf %>', '<%~ process.exit(1) %>', '${process.exit(1)}', '<script>alert(1)</script>', '"><svg onload=alert(1)>', 'javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>', '//evil.example', 'https://evil.example/callback', 'https://app.example.test/callback#frag', 'https://app.example.test/callback/../x',
  '../../../../etc/passwd', '..%2f..%2f..%2fetc%2fpasswd', 'file:///etc/passwd',
  // Object keys that are special to JavaScript.
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '[object Object]',
  // Numbers and words that other types parse.
  'null', 'undefined', 'true', 'false', 'NaN', 'Infinity', '-1', '0', '-0', '1e309', '9007199254740993', '0x1F', '1_000', '[]', '{}', '[1,2]', '{"a":1}',
  // Unicode: controls, bidi, lone surrogates, BOM, normalisation, case folding, astral planes.
  '\u202e', '\ud800', '\udfff', '\uffff', '\ufeff', '𝕏', 'İ', 'ß', 'ＡＤＭＩＮ', 'e\u0301', '\u00a0', '🔥'.repeat(64), 'ﷺ'.repeat(100),
  'admin@fuzz.test\u0000', 'keeper@fuzz.test', ' KEEPER@FUZZ.TEST ', 'victim@fuzz.test', 'nobody@fuzz.test',
  // Sizes: just over a limit, far over one.
  'A'.repeat(2_001), 'A'.repeat(8_193), 'x'.repeat(70_000),
];

/** Random text: printable, full Unicode (lone surrogates included) and raw bytes as Latin-1. */
export const randomText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }),
);

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
  { arbitrary: randomText, weight: 2 },
  { arbitrary: fc.nat({ max: 200_000 }).map(String), weight: 1 },
);

/** Parameter names: plain, bracketed (qs nests them), dotted, special to JavaScript, empty, Unicode. */
export const paramName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('a[b]', 'a[]', 'a[0]', 'a[b][c][d][e][f][g]', 'scope[]', 'client_id[]', 'grant_type[x]', '__proto__', '__proto__[admin]', 'constructor[prototype][admin]',
    'a.b', '', '=', '&', '%', '%00', 'ü', '\u0000', 'x'.repeat(1000), 'password[]', 'csrf[]', 'login[$ne]', 'token[]'),
  fc.stringMatching(/^[a-z_]{1,12}$/),
  randomText,
);

/** A forged or malformed JWT: unsigned, wrong algorithm, foreign key headers, bad segments. */
export const forgedJwt: fc.Arbitrary<string> = fc.oneof(
  fc.record({
    header: fc.oneof(
      fc.constantFrom<object>(
        { alg: 'none' }, { alg: 'none', typ: 'at+jwt' }, { alg: 'HS256', typ: 'at+jwt' }, { alg: 'ES256', kid: '../../../../dev/null' },
        { alg: 'RS256', jku: 'https://evil.example/jwks' }, { alg: 'RS256', x5u: 'https://evil.example/cert' }, { alg: 'ES256', crit: ['exp'] },
        { alg: 'RS256', jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }, { alg: 'EdDSA' }, { alg: 'PS256', typ: 'JWT' }, { alg: 'ES256', kid: "' OR 1=1 --" }, {},
      ),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    ),
    payload: fc.oneof(
      fc.constantFrom<object>(
        { iss: '{{issuer}}', sub: 'x', aud: '{{issuer}}/admin/v1', scope: 'admin', exp: 4_102_444_800, client_id: 'ops' },
        { iss: '{{issuer}}', sub: 'fuzz-web', aud: '{{issuer}}', exp: 4_102_444_800, jti: 'x' },
        { iss: 'https://evil.example', exp: -1 }, { exp: 'tomorrow' }, { cnf: { jkt: 'x' } }, { roles: ['admin'], gid: "'; --" },
      ),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
    ),
    signature: fc.oneof(fc.constant(''), fc.base64String({ maxLength: 90 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'))),
  }).map(({ header, payload, signature }) => `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`),
  fc.constantFrom('a.b', 'a.b.c.d.e', '..', '....', 'eyJ.eyJ.sig', '{{access_token}}x', 'x{{access_token}}', '{{id_token}}', '{{admin_token}}', '{{victim_access_token}}', '{{refresh_token}}'),
  hostileString.map((s) => `${b64url(s)}.${b64url(s)}.${b64url(s)}`),
);

/** A Cookie header: the real cookies of some browser, or forged, duplicated, oversized ones. */
export function cookieHeader(real: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const names = fc.constantFrom('_session', '_session.sig', '_session.legacy', '_interaction', '_interaction.sig', '_interaction_resume', '_interaction_resume.sig', 'x', '');
  const forged = fc.array(fc.tuple(names, fc.oneof(hostileString, fc.uuid(), fc.base64String({ maxLength: 60 }))), { maxLength: 4 })
    .map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('; '));
  return fc.oneof(
    { arbitrary: real, weight: 4 },
    { arbitrary: forged, weight: 2 },
    { arbitrary: fc.tuple(real, forged).map(([a, b]) => `${a}; ${b}`), weight: 1 },
    { arbitrary: fc.tuple(forged, real).map(([a, b]) => `${a}; ${b}`), weight: 1 },
    { arbitrary: fc.constantFrom('=', ';;;', '_session', '_session=', `_session=${'x'.repeat(9000)}`, '\u0000=\u0000'), weight: 1 },
  );
}

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

// What every answer must satisfy, whatever was asked: an answer at all, no
// 5xx, and nothing from inside the server (a stack trace, a file path, SQL
// or a database error) or any secret the suite holds, in the body or in a
// header. And afterwards, no secret in the log.
import { tmpdir } from 'node:os';
import { ROOT } from '../support/processes.ts';
import type { Sent } from './send.ts';

/** Text that only an error's internals produce. The suite's own SQL-ish inputs may be echoed (escaped) by a page, so these look for the database's words, not the attacker's. */
const LEAKS: ReadonlyArray<[string, RegExp]> = [
  ['stack trace', /\bat (?:async )?[\w$.<>[\] ]*\(?(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+/],
  ['stack trace', /\n\s+at [\w$.<>]+ \(/],
  ['source file', /\.(?:ts|mjs|cjs|js):\d+:\d+/],
  ['module path', /node_modules\//],
  ['server path', new RegExp(escape(ROOT.replace(/\/$/, '')))],
  ['temporary path', new RegExp(`${escape(tmpdir())}/tollgate-`)],
  ['SQL error', /syntax error at or near|invalid input syntax for|violates (?:unique|foreign key|not-null|check) constraint|duplicate key value|relation "[^"]*" does not exist|column "[^"]*" does not exist|invalid byte sequence for encoding|SQLSTATE|unterminated quoted string/i],
  ['SQL text', /\b(?:SELECT\s[^<>]{1,200}?\sFROM|INSERT\s+INTO|UPDATE\s+"?\w+"?\s+SET|DELETE\s+FROM)\s+"?(?:public"?\.)?"?(?:Account|Client|OidcModel|AuditEvent|LoginThrottle|RevokedToken|SessionDevice|_prisma_migrations|oidc_model|account|client)\b/],
  ['ORM error', /Prisma|PrismaClient|Invalid `.*` invocation|pglite|PGlite|ERR_[A-Z_]{4,}/],
];

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface Finding {
  kind: string;
  detail: string;
  /** The request that drew it, as sent, with the suite's secrets masked. */
  request?: string;
}

/** The methods Tollgate's routers implement; others are unrecognised (RFC 9110 §9.1). */
const RECOGNISED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * A server error, as the suite counts it. Two 5xx are correct answers and
 * not faults: 501 to a method the server does not recognise (TRACE,
 * PROPFIND, ...), which RFC 9110 §15.6.2 prescribes and koa-router gives;
 * and 503 `mail_unavailable`, the admin API's documented answer to "send
 * this user an e-mail" on a server without mail (docs/email.md), which the
 * fuzzed server is.
 */
export function isServerError(status: number, method: string, body = ''): boolean {
  if (status === 501 && !RECOGNISED_METHODS.has(method.toUpperCase())) return false;
  if (status === 503 && /^\{"error":"mail_unavailable"/.test(body)) return false;
  return status >= 500;
}

/** Everything wrong with one exchange (empty when it is fine). */
export function checkExchange(sent: Sent, secrets: ReadonlySet<string>): Finding[] {
  const r = sent.response;
  // Dropped without an answer, rightly: a malformed request on the wire (an
  // incomplete body the fuzzer gave up on), and CONNECT, whose connection
  // Node's HTTP server closes when nothing serves it (we are no proxy).
  if (!r) return sent.plan.raw !== undefined || sent.plan.method === 'CONNECT' ? [] : [{ kind: 'no answer', detail: 'the server closed the connection without answering' }];
  const findings: Finding[] = [];
  if (r.status === 0) findings.push({ kind: 'unparseable answer', detail: r.head.slice(0, 200) });
  if (isServerError(r.status, sent.plan.method, r.body.toString('utf8'))) findings.push({ kind: `status ${r.status}`, detail: r.body.toString('utf8').slice(0, 300) });
  const body = r.body.toString('utf8');
  const headers = r.headers.map(([n, v]) => `${n}: ${v}`).join('\n');
  // Set-Cookie may hand a browser back its own session cookie (a touched session is re-sent).
  const cookiesSent = sent.bytes.toString('utf8').split('\r\n').filter((l) => /^cookie:/i.test(l)).join('\n');
  const headersButOwnCookies = r.headers.filter(([n, v]) => !(n === 'set-cookie' && cookiesSent.includes(v.split(';')[0]!.split('=').slice(1).join('=') || '\u0000'))).map(([n, v]) => `${n}: ${v}`).join('\n');
  for (const [where, text] of [['body', body], ['headers', headers]] as const) {
    for (const [kind, pattern] of LEAKS) {
      const m = pattern.exec(text);
      if (m) findings.push({ kind: `${kind} in ${where}`, detail: around(text, m.index) });
    }
    let index = 0;
    for (const secret of secrets) {
      if (index++ >= sent.secretsBefore) break;
      if ((where === 'body' ? text : headersButOwnCookies).includes(secret) && !mayEcho(sent, secret)) {
        findings.push({ kind: `secret in ${where}`, detail: `${secret.slice(0, 6)}… (${secret.length} characters)` });
      }
    }
  }
  return findings;
}

/** Parameters and headers that carry credentials: what is sent there must never come back. */
const CREDENTIAL_PARAMS = new Set(['client_secret', 'client_assertion', 'password', 'token', 'refresh_token', 'code', 'code_verifier', 'access_token', 'assertion', 'subject_token', 'xsrf', 'csrf']);
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'dpop']);

/**
 * May the answer contain `secret`? Only when the request itself carried it
 * somewhere other than a credential (the generators' forged values land in
 * `state`, `login_hint` or a stray parameter), as an echo of that; and an
 * authorization request by POST is answered with the same request by GET
 * (middleware/koa-authorization-post.ts), every parameter carried over.
 */
function mayEcho(sent: Sent, secret: string): boolean {
  const text = sent.bytes.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const utf8 = Buffer.from(secret, 'utf8').toString('latin1');
  for (let at = text.indexOf(utf8); at !== -1; at = text.indexOf(utf8, at + 1)) {
    const lineStart = text.lastIndexOf('\n', at) + 1;
    if (headEnd !== -1 && at < headEnd && lineStart > text.indexOf('\r\n')) {
      if (!CREDENTIAL_HEADERS.has(text.slice(lineStart, text.indexOf(':', lineStart)).trim().toLowerCase())) return true;
      continue;
    }
    if (sent.plan.family === 'authorization' && sent.plan.method === 'POST') return true;
    const paramStart = Math.max(text.lastIndexOf('&', at), text.lastIndexOf('?', at), text.lastIndexOf('\n', at)) + 1;
    const name = decodeName(text.slice(paramStart, text.indexOf('=', paramStart)));
    if (!CREDENTIAL_PARAMS.has(name)) return true;
  }
  return false;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

function around(text: string, index: number): string {
  return JSON.stringify(text.slice(Math.max(0, index - 60), index + 120));
}

/** Log lines that carry a secret, or that record a server error (there should be none of either). */
export function checkLog(lines: readonly string[], secrets: ReadonlySet<string>): Finding[] {
  const findings: Finding[] = [];
  for (const line of lines) {
    for (const secret of secrets) if (line.includes(secret)) findings.push({ kind: 'secret in log', detail: `${secret.slice(0, 6)}… in ${line.slice(0, 160).replace(secret, '[the secret]')}` });
    let level = 0;
    try {
      level = (JSON.parse(line) as { level?: number }).level ?? 0;
    } catch {
      // Every line the server writes is JSON: anything else (a raw stack trace) is a finding.
      findings.push({ kind: 'non-JSON log line', detail: line.slice(0, 400) });
      continue;
    }
    if (level >= 50) findings.push({ kind: 'error logged', detail: line.slice(0, 400) });
  }
  return findings;
}

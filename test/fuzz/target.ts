// The Tollgate the fuzzer attacks, with everything a hostile request may
// need to get past the first check: clients of each kind, people signed in,
// live interactions with their CSRF tokens, tokens of every sort. Generated
// requests name these by placeholder (`{{access_token}}`), resolved when the
// request is sent: a counterexample prints the placeholder, never the secret,
// and a value the fuzzer used up (a code, an interaction, a rotated refresh
// token) is fetched afresh for the next request that names it.
//
// Every secret handed out here is remembered, so the checks can prove that
// none comes back in a response or lands in the log.
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { createDatabase, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { REDIRECT, authorizationRequest, relyingParty, signIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';
import { openApiPath } from '../../server/routes/admin/openapi.ts';
import type { AdminRoute } from '../../server/routes/admin/route.ts';

export const PASSWORD = { keeper: 'keeper passphrase for fuzzing', victim: 'victim passphrase for fuzzing' };
export const EMAIL = { keeper: 'keeper@fuzz.test', victim: 'victim@fuzz.test' };
/** Clients the admin API may change, rotate or delete while fuzzing; the others must keep working. */
export const VICTIM_CLIENTS = ['victim-a', 'victim-b'];

export interface Discovered {
  /** Endpoint paths (below the origin) from discovery. */
  endpoints: Record<string, string>;
  grantTypes: string[];
  authMethods: string[];
  scopes: string[];
}

export interface FuzzTarget {
  readonly t: TestTollgate;
  readonly port: number;
  readonly host: string;
  readonly discovered: Discovered;
  readonly adminRoutes: Array<{ method: string; path: string; route: AdminRoute }>;
  /** Every secret the suite has used or received: none may come back in a response or reach the log. */
  readonly secrets: Set<string>;
  /** Fills `{{name}}` placeholders; one request resolves each name once (a code and its verifier belong together). */
  resolver(): Resolver;
  /** After a request: what it may have spent (an interaction, a CSRF-bound page, a rotated refresh token) is fetched afresh next time. */
  spent(used: Set<string>, status: number, body: Buffer): void;
  close(): Promise<void>;
}

export interface Resolver {
  fill(text: string): Promise<string>;
  /** The names this request used: what it may have spent. */
  used: Set<string>;
  /** The request is answered (and `spent` has seen the answer): releases what it held. */
  done(): void;
}

export interface TargetOptions {
  /** A real PostgreSQL server instead of the embedded database. */
  postgres?: boolean;
}

interface LiveInteraction { uid: string; cookies: string; csrf: string }

export async function startFuzzTarget(options: TargetOptions = {}): Promise<FuzzTarget> {
  let pg: PostgresServer | undefined;
  let databaseUrl: string | undefined;
  if (options.postgres) {
    pg = await startPostgres();
    databaseUrl = await createDatabase(pg, 'fuzz');
  }
  // Long-lived tokens: a full run outlasts the default 15 minutes on a slow day.
  const t = await startTestTollgate({ databaseUrl, env: { ACCESS_TOKEN_TTL: '86400', SIGNUP_ENABLED: 'true' } });
  const port = Number(new URL(t.issuer).port);
  const secrets = new Set<string>();
  const keep = (value: string | undefined) => {
    if (value && value.length >= 8) secrets.add(value);
    return value ?? '';
  };

  const clients = t.tollgate.clients;
  const webSecret = keep((await clients.register({ id: 'fuzz-web', redirectUris: [REDIRECT], postLogoutRedirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], scope: 'openid email profile offline_access basic', firstParty: true })).client_secret);
  const opsSecret = keep((await clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret);
  await clients.register({ id: 'fuzz-third', public: true, redirectUris: [REDIRECT], scope: 'openid email basic' });
  for (const id of VICTIM_CLIENTS) keep((await clients.register({ id, redirectUris: [REDIRECT], scope: 'openid basic' })).client_secret);
  const keeperId = (await t.tollgate.accounts.create({ email: EMAIL.keeper, password: PASSWORD.keeper, roles: ['admin'] })).id;
  const victimId = (await t.tollgate.accounts.create({ email: EMAIL.victim, password: PASSWORD.victim })).id;
  keep(PASSWORD.keeper);
  keep(PASSWORD.victim);

  const { machineToken } = adminCalls(t);
  const adminToken = keep((await machineToken('ops', opsSecret, 'admin')).body.access_token);
  const scope = 'openid email offline_access basic';
  const keeper = await signIn(t, { clientId: 'fuzz-web', secret: webSecret, email: EMAIL.keeper, password: PASSWORD.keeper, scope });
  const victim = await signIn(t, { clientId: 'fuzz-web', secret: webSecret, email: EMAIL.victim, password: PASSWORD.victim, scope });
  keep(keeper.tokens.access_token);
  keep(keeper.tokens.id_token);
  keep(keeper.tokens.refresh_token);
  let refreshToken = keep(victim.tokens.refresh_token);
  keep(victim.tokens.access_token);
  keep(victim.tokens.id_token);
  const cookieHeader = (agent: UserAgent) => agent.cookieEntries().map(([k, v]) => `${k}=${v}`).join('; ');
  // Session cookies are bearer credentials too (the interaction cookie only names a uid, which is in URLs anyway).
  for (const agent of [keeper.agent, victim.agent]) for (const [name, value] of agent.cookieEntries()) if (name.startsWith('_session')) keep(value);

  const discovery = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  const endpoints = Object.fromEntries(Object.entries(discovery)
    .filter(([k, v]) => k.endsWith('_endpoint') && typeof v === 'string')
    .map(([k, v]) => [k, new URL(v as string).pathname]));
  endpoints.jwks_uri = new URL(String(discovery.jwks_uri)).pathname;
  const discovered: Discovered = {
    endpoints,
    grantTypes: (discovery.grant_types_supported as string[] | undefined) ?? [],
    authMethods: (discovery.token_endpoint_auth_methods_supported as string[] | undefined) ?? [],
    scopes: (discovery.scopes_supported as string[] | undefined) ?? [],
  };

  // A key nobody registered: assertions signed with it are well-formed and must still be refused.
  const strangerKey = await generateKeyPair('ES256');
  const web = await relyingParty(t, 'fuzz-web', webSecret);
  const third = await relyingParty(t, 'fuzz-third');

  const textOf = (html: string, name: string) => (new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? 'no-such-token').replace(/&#x2F;/g, '/').replace(/&amp;/g, '&');
  // Promises, so that requests sent together share one fresh interaction instead of each making their own.
  let loginInteraction: Promise<LiveInteraction> | undefined;
  let consentInteraction: Promise<LiveInteraction> | undefined;
  let victimCsrf: Promise<string> | undefined;
  let logoutXsrf: Promise<string> | undefined;

  /** A fresh browser at the login page of a fresh authorization request. */
  const newLoginInteraction = async (): Promise<LiveInteraction> => {
    const agent = new UserAgent();
    const page = await agent.navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    return { uid: /\/interaction\/([^/"?]+)/.exec(page.url)?.[1] ?? 'none', cookies: cookieHeader(agent), csrf: textOf(page.body, 'csrf') };
  };
  /** The signed-in keeper at the consent page of a third-party client. */
  const newConsentInteraction = async (): Promise<LiveInteraction> => {
    const page = await keeper.agent.navigate((await authorizationRequest(third)).url.href, {}, REDIRECT);
    return { uid: /\/interaction\/([^/"?]+)/.exec(page.url)?.[1] ?? 'none', cookies: cookieHeader(keeper.agent), csrf: textOf(page.body, 'csrf') };
  };
  const freshCode = async () => {
    const request = await authorizationRequest(web, { scope });
    const page = await keeper.agent.navigate(request.url.href, {}, REDIRECT);
    const code = page.url.startsWith(REDIRECT) ? new URL(page.url).searchParams.get('code') : undefined;
    return { code: keep(code ?? 'no-code'), verifier: request.verifier };
  };
  const freshMachineToken = async () => keep((await adminCalls(t).machineToken('fuzz-web', webSecret, 'basic')).body.access_token ?? 'no-token');

  // One request at a time holds the refresh token: two rotations of one token at once are a replay, which
  // (rightly) revokes the family and would leave the rest of the run without a working refresh token.
  let refreshTurn: Promise<void> = Promise.resolve();

  const resolver = (): Resolver => {
    const memo = new Map<string, Promise<string>>();
    const used = new Set<string>();
    let release = () => {};
    let code: Promise<{ code: string; verifier: string }> | undefined;
    const value = async (name: string): Promise<string> => {
      switch (name) {
        case 'admin_token': return adminToken;
        case 'access_token': return keeper.tokens.access_token;
        case 'id_token': return keeper.tokens.id_token ?? '';
        case 'victim_access_token': return victim.tokens.access_token;
        case 'refresh_token': {
          const previous = refreshTurn;
          refreshTurn = new Promise((resolve) => { release = resolve; });
          await previous;
          return refreshToken;
        }
        case 'machine_token': return freshMachineToken();
        case 'web_id': return 'fuzz-web';
        case 'web_secret': return webSecret;
        case 'basic_web': return basicAuth('fuzz-web', webSecret).slice(6);
        case 'basic_ops': return basicAuth('ops', opsSecret).slice(6);
        case 'code': return (await (code ??= freshCode())).code;
        case 'code_verifier': return (await (code ??= freshCode())).verifier;
        case 'client_assertion': return new SignJWT({ jti: randomUUID() })
          .setProtectedHeader({ alg: 'ES256' }).setIssuer('fuzz-web').setSubject('fuzz-web').setAudience(t.issuer)
          .setIssuedAt().setExpirationTime('1m').sign(strangerKey.privateKey);
        case 'uid': return (await (loginInteraction ??= newLoginInteraction())).uid;
        case 'interaction_cookies': return (await (loginInteraction ??= newLoginInteraction())).cookies;
        case 'csrf': return (await (loginInteraction ??= newLoginInteraction())).csrf;
        case 'consent_uid': return (await (consentInteraction ??= newConsentInteraction())).uid;
        case 'consent_cookies': return (await (consentInteraction ??= newConsentInteraction())).cookies;
        case 'consent_csrf': return (await (consentInteraction ??= newConsentInteraction())).csrf;
        case 'keeper_cookies': return cookieHeader(keeper.agent);
        case 'victim_cookies': return cookieHeader(victim.agent);
        case 'victim_csrf': return (victimCsrf ??= victim.agent.navigate(`${t.issuer}/account`).then((page) => textOf(page.body, 'csrf')));
        case 'logout_xsrf': return (logoutXsrf ??= victim.agent.navigate(`${t.issuer}${endpoints.end_session_endpoint}?client_id=fuzz-web`).then((page) => textOf(page.body, 'xsrf')));
        case 'keeper_id': return keeperId;
        case 'victim_id': return victimId;
        case 'redirect_uri': return REDIRECT;
        case 'issuer': return t.issuer;
        default: return `{{${name}}}`;
      }
    };
    return {
      used,
      done: () => release(),
      async fill(text) {
        const names = [...new Set([...text.matchAll(/\{\{([a-z_]+)\}\}/g)].map((m) => m[1]!))];
        for (const n of names) {
          used.add(n);
          if (!memo.has(n)) memo.set(n, value(n));
        }
        let out = text;
        for (const n of names) out = out.split(`{{${n}}}`).join(await memo.get(n)!);
        return out;
      },
    };
  };

  return {
    t, port, host: `localhost:${port}`, discovered, secrets,
    adminRoutes: t.tollgate.admin.routes.map((route) => ({ method: route.method.toUpperCase(), path: openApiPath(route.path), route })),
    resolver,
    spent(used: Set<string>, status: number, body: Buffer) {
      if (used.has('csrf') || used.has('uid')) loginInteraction = undefined;
      if (used.has('consent_csrf') || used.has('consent_uid')) consentInteraction = undefined;
      if (used.has('victim_cookies')) { victimCsrf = undefined; logoutXsrf = undefined; }
      if (used.has('refresh_token') && status === 200) {
        try {
          const next = (JSON.parse(body.toString('utf8')) as { refresh_token?: string }).refresh_token;
          if (next) refreshToken = keep(next);
        } catch { /* not a token response */ }
      }
    },
    async close() {
      await t.close();
      await removeDirs(t.dirs);
      pg?.stop();
    },
  };
}

// An upstream OpenID Connect provider for the social-login tests: a bare
// oidc-provider (the library Tollgate is built on) in a child process of its
// own (test/fixtures/upstream-op.ts, run with tsx), in memory, on loopback.
// Tollgate reaches it over HTTP like any upstream: start Tollgate with
// ALLOW_PRIVATE_NETWORK_FETCH=true (its SSRF guard refuses loopback otherwise).
//
// What it serves, at `issuer`:
// - discovery (/.well-known/openid-configuration), JWKS (/jwks), /auth,
//   /token, userinfo (/me), all oidc-provider's own;
// - the confidential clients it is started with (client_secret_post unless
//   told otherwise), authorization code only, PKCE (S256) required;
// - the users it is started with; scopes openid, email (email,
//   email_verified), profile (name); the scope's claims are in the ID token
//   as well as at userinfo;
// - no page of its own: every authorization redirects through
//   /interaction/:uid, which signs in `behaviour.signInAs` (else the user the
//   request's login_hint names, else the first user) and consents to every
//   scope asked. A browser (Chromium) or a cookie-keeping agent only follows
//   redirects. The fixture keeps no session between authorizations, so each
//   one signs in afresh as whoever `signInAs` names at that moment.
//
// Behaviours (the failure cases of issue 15), set at start or at run time
// with `setBehaviour` (= POST /__control {"behaviour": {...}}; a behaviour is
// replaced whole, fields left out go back to their defaults):
// - authorization 'deny': back to the redirect URI with error=access_denied
//   (and the request's state);
// - authorization 'wrong-state': the callback carries a state that is not the
//   one sent (the original with a suffix);
// - tokenDelayMs: the token endpoint answers this much later;
// - idToken 'wrong-nonce' | 'wrong-audience': the ID token with another
//   nonce / aud, still validly signed by the key in the JWKS;
// - idToken 'unknown-key': the ID token signed by a key that is not in the
//   JWKS, under a kid the JWKS does not have; 'bad-signature': the same,
//   under the kid of the JWKS's key (the signature does not verify).
//   NB: openid-client checks the signature of an ID token from the token
//   endpoint only after `enableNonRepudiationChecks(config)`; without it, it
//   relies on TLS (OpenID Connect Core §3.1.3.7) and accepts both.
// - an e-mail the upstream does not vouch for: give a user
//   `email_verified: false` and sign in as that user.
// GET /__control (= `received()`) also tells what it received: the query of
// every authorization request and the gist of every token request.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ROOT } from './processes.ts';

export interface UpstreamClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** How the client authenticates at the token endpoint; client_secret_post by default. */
  tokenEndpointAuthMethod?: 'client_secret_post' | 'client_secret_basic';
}

export interface UpstreamUser {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
}

export interface UpstreamBehaviour {
  /** The user every sign-in signs in (by sub); by default the login_hint's user, else the first. */
  signInAs?: string;
  /** 'grant' by default. */
  authorization?: 'grant' | 'deny' | 'wrong-state';
  /** Delay before the token endpoint answers, in ms. */
  tokenDelayMs?: number;
  /** 'valid' by default. */
  idToken?: 'valid' | 'wrong-nonce' | 'wrong-audience' | 'unknown-key' | 'bad-signature';
}

export interface UpstreamOpStart {
  clients: UpstreamClient[];
  users: UpstreamUser[];
  behaviour?: UpstreamBehaviour;
  /** 0 (any free port) by default. */
  port?: number;
  /** 127.0.0.1 by default. */
  host?: string;
}

/** What the fixture received, for tests to assert on. */
export interface UpstreamReceived {
  /** The query of each authorization request (GET /auth), in order. */
  authorizations: Array<Record<string, string>>;
  /** Each token request: its answer's status, the client, and the parameters worth checking (no secrets). */
  tokenRequests: Array<{ status: number; clientId?: string; grantType?: string; redirectUri?: string; codeVerifier?: string }>;
}

export interface UpstreamOp {
  /** http://127.0.0.1:PORT, the issuer and discovery base. */
  readonly issuer: string;
  readonly users: UpstreamUser[];
  /** Replaces the behaviour (fields left out go back to their defaults). */
  setBehaviour(behaviour: UpstreamBehaviour): Promise<void>;
  /** Replaces the users (e.g. to change what an e-mail says between two sign-ins). */
  setUsers(users: UpstreamUser[]): Promise<void>;
  received(): Promise<UpstreamReceived>;
  /** Whatever the process wrote to stderr (oidc-provider's warnings, a crash). */
  output(): string;
  close(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('../fixtures/upstream-op.ts', import.meta.url));

export async function startUpstreamOp(start: UpstreamOpStart, timeoutMs = 20_000): Promise<UpstreamOp> {
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_OP_CONFIG: JSON.stringify(start) };
  delete env.NODE_TEST_CONTEXT; // it is a server, not a test file of this run
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d; });
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill(); reject(new Error(`the upstream OP did not start in ${timeoutMs} ms:\n${stderr}`)); }, timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the upstream OP exited (${code}):\n${stderr}`)); });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { issuer: string }).issuer);
    });
  });

  let users = start.users;
  const control = async (change?: object): Promise<{ users: UpstreamUser[]; received: UpstreamReceived }> => {
    const res = await fetch(`${issuer}/__control`, change
      ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(change) }
      : {});
    if (!res.ok) throw new Error(`upstream OP control: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ users: UpstreamUser[]; received: UpstreamReceived }>;
  };
  return {
    issuer,
    get users() { return users; },
    async setBehaviour(behaviour) { await control({ behaviour }); },
    async setUsers(next) { users = (await control({ users: next })).users; },
    async received() { return (await control()).received; },
    output: () => stderr,
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.removeAllListeners('exit');
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

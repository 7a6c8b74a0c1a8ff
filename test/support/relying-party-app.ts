// A third-party web application, written the way its developers would with
// openid-client: /login starts the authorization code flow with PKCE,
// /callback exchanges the code and reads userinfo, /logout starts
// RP-initiated logout. It records what it received for the tests to check.
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';

export interface AppSession {
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  userinfo: oidc.UserInfoResponse;
}

export interface RelyingPartyApp {
  readonly origin: string;
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;
  /** Sign-ins completed, newest last. */
  readonly sessions: AppSession[];
  readonly signOuts: string[];
  close(): Promise<void>;
}

export async function startRelyingPartyApp(options: { issuer: string; clientId: string; clientSecret: string; port: number; scope: string }): Promise<RelyingPartyApp> {
  const origin = `http://127.0.0.1:${options.port}`;
  const redirectUri = `${origin}/callback`;
  const postLogoutRedirectUri = `${origin}/signed-out`;
  const config = await oidc.discovery(new URL(options.issuer), options.clientId, options.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  const pending = new Map<string, { verifier: string; nonce: string }>();
  const sessions: AppSession[] = [];
  const signOuts: string[] = [];

  const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', origin);
      try {
        if (url.pathname === '/login') {
          const verifier = oidc.randomPKCECodeVerifier();
          const state = oidc.randomState();
          const nonce = oidc.randomNonce();
          pending.set(state, { verifier, nonce });
          const prompt = url.searchParams.get('prompt');
          const target = oidc.buildAuthorizationUrl(config, {
            redirect_uri: redirectUri, scope: options.scope, state, nonce,
            code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
            ...(prompt ? { prompt } : {}),
          });
          res.writeHead(302, { location: target.href }).end();
        } else if (url.pathname === '/callback') {
          const state = url.searchParams.get('state') ?? '';
          const expected = pending.get(state);
          if (url.searchParams.get('error')) {
            res.writeHead(200, { 'content-type': 'text/html' }).end(page('Not signed in', `<p id="error">${url.searchParams.get('error')}</p>`));
            return;
          }
          if (!expected) throw new Error('unknown state');
          pending.delete(state);
          const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: expected.verifier, expectedState: state, expectedNonce: expected.nonce });
          const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
          sessions.push({ tokens, userinfo });
          res.writeHead(200, { 'content-type': 'text/html' }).end(page('Signed in', `<p id="who">${String(userinfo.email)}</p>`));
        } else if (url.pathname === '/logout') {
          const last = sessions.at(-1);
          const target = oidc.buildEndSessionUrl(config, { id_token_hint: last?.tokens.id_token ?? '', post_logout_redirect_uri: postLogoutRedirectUri, state: 'signed-out-state' });
          res.writeHead(302, { location: target.href }).end();
        } else if (url.pathname === '/signed-out') {
          signOuts.push(url.searchParams.get('state') ?? '');
          res.writeHead(200, { 'content-type': 'text/html' }).end(page('Signed out of the app', ''));
        } else {
          res.writeHead(404).end();
        }
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`app error: ${(err as Error).message}`);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  return {
    origin, redirectUri, postLogoutRedirectUri, sessions, signOuts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// The reference for `npm run bench`: oidc-provider as its README sets it up,
// in memory, with no logging and nothing of Tollgate's around it. Measured in
// the same run as Tollgate, it turns req/s into a ratio that survives this
// machine's drift between runs.
//
// Serves the same two token scenarios as the bench: client_credentials for an
// API with ES256 JWT access tokens, and refresh-token rotation (rotate on every
// use), without and with `openid` (an RS256 ID token on every rotation); and
// client_credentials with a DPoP proof (RFC 9449) for a client held to it
// (`dpop_bound_access_tokens`, as `clients add --require-dpop`), with DPoP
// configured as Tollgate configures it: nonces offered, not required. Its refresh token families are created through the library's own
// models (a grant, then a refresh token for it), as a code exchange would
// leave them; their values go to stdout as one JSON line, then it listens.
//
// Usage: tsx bench/bare-provider.ts <port> <families>
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type JWKS } from 'oidc-provider';

const port = Number(process.argv[2]);
const families = Number(process.argv[3] ?? 32);
const issuer = `http://localhost:${port}`;
const api = `${issuer}/api`;

const keys: JWKS = {
  keys: await Promise.all((['RS256', 'ES256'] as const).map(async (alg) => {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: alg.toLowerCase() } as JWKS['keys'][number];
  })),
};

const SECRET = 'bare-provider-bench-secret-0123456789abcdef';
const provider = new Provider(issuer, {
  clients: [
    { client_id: 'cc', client_secret: SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'basic' },
    { client_id: 'cc-dpop', client_secret: SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'basic', dpop_bound_access_tokens: true },
    { client_id: 'web', client_secret: SECRET, grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['https://bench.example/callback'], scope: 'openid offline_access basic' },
  ],
  jwks: keys,
  scopes: ['openid', 'offline_access', 'basic'],
  features: {
    clientCredentials: { enabled: true },
    // On by default; the nonce secret as Tollgate's (server/oidc/configuration.ts), so that each answer offers a DPoP-Nonce.
    dPoP: { enabled: true, nonceSecret: randomBytes(32) },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => api,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'basic', audience: api, accessTokenFormat: 'jwt', accessTokenTTL: 900, jwt: { sign: { alg: 'ES256' } } }),
    },
  },
  rotateRefreshToken: true,
});

/** One family: a grant as the consent step leaves it, and its first refresh token. */
async function family(i: number, openid: boolean): Promise<string> {
  const client = await provider.Client.find('web');
  const oidcScope = openid ? 'openid offline_access' : 'offline_access';
  const grant = new provider.Grant({ accountId: `account-${i}`, clientId: 'web' });
  grant.addOIDCScope(oidcScope);
  grant.addResourceScope(api, 'basic');
  const grantId = await grant.save();
  const refreshToken = new provider.RefreshToken({
    accountId: `account-${i}`, client: client!, grantId, scope: `${oidcScope} basic`, resource: api, gty: 'authorization_code',
  });
  return refreshToken.save();
}
// Families are minted when a scenario asks (GET /bench/families?openid=1):
// the library's in-memory adapter is an LRU of 1,000 entries, so families
// made at start would be evicted by the scenarios run before theirs.
const callback = provider.callback();
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', issuer);
  if (url.pathname !== '/bench/families') return void callback(req, res);
  const openid = url.searchParams.get('openid') === '1';
  void Promise.all(Array.from({ length: families }, (_, i) => family(i, openid))).then((tokens) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(tokens));
  });
});
server.listen(port, () => {
  process.stdout.write(`${JSON.stringify({ listening: port, secret: SECRET })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));

// DPoP (RFC 9449) on the client's side, for tests: oauth4webapi (a client
// library we did not write) obtains bound tokens and calls resources with
// them; `proof` hand-crafts proofs, good or broken in one chosen way.
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';

export const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** A DPoP key pair (WebCrypto's KeyPair). */
export type KeyPair = Awaited<ReturnType<typeof oauth.generateKeyPair>>;

/** oauth4webapi's DPoP handle for this client and key. */
export const dpopHandle = (clientId: string, keyPair: KeyPair) => oauth.DPoP({ client_id: clientId } as oauth.Client, keyPair);

/** oauth4webapi's view of a Tollgate, found through discovery. */
export async function authorizationServer(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { ...insecure, algorithm: 'oidc' }));
}

/** A client_credentials token bound to `keyPair` (a DPoP proof at the token endpoint). */
export async function boundClientCredentialsToken(
  as: oauth.AuthorizationServer, clientId: string, secret: string, keyPair: KeyPair, parameters: Record<string, string>,
): Promise<oauth.TokenEndpointResponse> {
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), parameters, { ...insecure, DPoP: dpopHandle(clientId, keyPair) });
  return oauth.processClientCredentialsResponse(as, client, response);
}

export interface ProofClaims {
  htm: string;
  htu: string;
  /** The access token, for `ath`; omit for no ath. */
  accessToken?: string;
  iat?: number;
  jti?: string;
  /** A server-provided nonce (RFC 9449 §8). */
  nonce?: string;
  /** Overrides (typ, alg) or extras in the header. */
  header?: Record<string, unknown>;
  /** Put this JWK in the header instead of the signing key's public one. */
  jwk?: JWK;
}

/** A DPoP proof signed by `key`; by default a good one for the given method, URL and token. */
export async function proof(key: KeyPair, claims: ProofClaims, alg = 'ES256'): Promise<string> {
  const jwk = claims.jwk ?? await exportJWK(key.publicKey);
  return new SignJWT({
    htm: claims.htm,
    htu: claims.htu,
    jti: claims.jti ?? randomUUID(),
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.nonce ? { nonce: claims.nonce } : {}),
    ...(claims.accessToken ? { ath: createHash('sha256').update(claims.accessToken).digest('base64url') } : {}),
  }).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...claims.header }).sign(key.privateKey);
}

export const newKey = (alg = 'ES256') => generateKeyPair(alg, { extractable: true }) as Promise<KeyPair>;

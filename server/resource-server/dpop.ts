// Proof of possession for DPoP-bound access tokens (RFC 9449). A token whose
// `cnf.jkt` names a key is good only with a fresh proof signed by that key:
// a stolen token alone is worthless. verify() applies the checks of RFC 9449
// §4.3 and §7.1 in order:
//   - one DPoP header, a compact JWS of bounded size;
//   - typ `dpop+jwt`, an algorithm from the allow-list (asymmetric only:
//     the same list the issuer's discovery advertises), a public `jwk` in the
//     header (no private part) whose signature checks out;
//   - `htm` is the request's method, `htu` its URL (query and fragment ignored);
//   - `iat` within the window, `jti` never seen before within it (replay);
//   - `ath` is base64url(SHA-256(the access token));
//   - the key's RFC 7638 thumbprint is the token's `cnf.jkt`.
// jose does the cryptography (EmbeddedJWK refuses a private key in the header).
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { DpopError, VerifierUnavailableError } from './errors.ts';

/**
 * The proof algorithms Tollgate accepts, and advertises in its discovery
 * document (`dpop_signing_alg_values_supported`: oidc/configuration.ts uses
 * this list, so the token endpoint and every resource server agree).
 */
export const DPOP_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'Ed25519', 'EdDSA']);

/** oidc-provider accepts proofs this far from its clock at the token endpoint (lib/helpers/challenge.js); so do we. */
const DEFAULT_MAX_AGE_SECONDS = 300;
const MAX_MAX_AGE_SECONDS = 600;
/** Far above any honest proof (a header with an EC or Ed25519 key and six claims is ~600 bytes). */
const MAX_PROOF_LENGTH = 8 * 1024;
const SYMMETRIC_OR_NONE = /^(none|HS\d+)$/i;

/** Remembers the proofs already used, so that each is accepted once. */
export interface ReplayCache {
  /** True the first time `key` is seen; false when it was seen before and has not yet expired (`expiresAt`, epoch seconds). */
  firstUse(key: string, expiresAt: number): boolean | Promise<boolean>;
}

export interface DpopOptions {
  /** Accepted proof algorithms. Default DPOP_ALGORITHMS, what Tollgate's discovery advertises. Asymmetric only. */
  algorithms?: readonly string[];
  /** How far (seconds) a proof's `iat` may be from now, either way. Default 300, at most 600. */
  maxAgeSeconds?: number;
  /**
   * Where used proofs are remembered. Default: in this process's memory
   * (createMemoryReplayCache), which is enough for one instance; an API run
   * as several instances behind a balancer should share one (e.g. Redis
   * `SET key 1 NX EXAT expiresAt`), or a proof may be replayed once per instance.
   */
  replayCache?: ReplayCache;
}

export interface ProofRequest {
  /** The request's method. */
  method: string;
  /** The URL the client called, as the client sees it (the API's public origin and path). */
  url: string | URL;
  /** The DPoP header's value; several headers joined by commas are refused. */
  proof: string | undefined;
  /** The access token presented with it (for `ath`). */
  accessToken: string;
  /** The token's `cnf.jkt`: the thumbprint of the key it is bound to. */
  jkt: string;
}

export interface DpopVerifier {
  readonly algorithms: readonly string[];
  /** Resolves when the proof is good for this request and token; rejects with DpopError (401) otherwise. */
  verify(request: ProofRequest): Promise<void>;
}

export function createDpopVerifier(options: DpopOptions = {}): DpopVerifier {
  const algorithms = Object.freeze([...(options.algorithms ?? DPOP_ALGORITHMS)]);
  if (!algorithms.length || algorithms.some((alg) => SYMMETRIC_OR_NONE.test(alg))) {
    throw new TypeError('dpop algorithms must be a non-empty list of asymmetric JWS algorithms (no "none", no HS*)');
  }
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  if (!(Number.isInteger(maxAge) && maxAge >= 1 && maxAge <= MAX_MAX_AGE_SECONDS)) {
    throw new TypeError(`dpop maxAgeSeconds must be a whole number from 1 to ${MAX_MAX_AGE_SECONDS}`);
  }
  const replayCache = options.replayCache ?? createMemoryReplayCache();

  return {
    algorithms,
    async verify({ method, url, proof, accessToken, jkt }) {
      if (!proof) throw new DpopError('invalid_dpop_proof', 'a DPoP proof (the DPoP header) is required with this access token');
      // Node joins repeated headers with ", "; a compact JWS has no comma (RFC 9449 §4.3: exactly one).
      if (proof.includes(',')) throw new DpopError('invalid_dpop_proof', 'exactly one DPoP header is allowed');
      if (proof.length > MAX_PROOF_LENGTH || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(proof)) {
        throw new DpopError('invalid_dpop_proof', 'the DPoP proof is not a compact JWS');
      }

      let payload: Record<string, unknown>;
      let jwk: JWK;
      try {
        const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...algorithms] });
        payload = verified.payload;
        jwk = verified.protectedHeader.jwk!;
      } catch {
        throw new DpopError('invalid_dpop_proof', `the DPoP proof is not a valid dpop+jwt signed with a public jwk by one of ${algorithms.join(' ')}`);
      }

      const { htm, htu, iat, jti, ath } = payload;
      if (typeof jti !== 'string' || !jti || jti.length > 256) throw new DpopError('invalid_dpop_proof', 'the DPoP proof has no jti');
      if (htm !== method.toUpperCase()) throw new DpopError('invalid_dpop_proof', 'the DPoP proof htm is not this request\'s method');
      if (typeof htu !== 'string' || withoutQuery(htu) !== withoutQuery(url)) {
        throw new DpopError('invalid_dpop_proof', 'the DPoP proof htu is not this request\'s URL');
      }
      const now = Math.floor(Date.now() / 1000);
      if (typeof iat !== 'number' || !Number.isFinite(iat) || Math.abs(now - iat) > maxAge) {
        throw new DpopError('invalid_dpop_proof', `the DPoP proof iat is not within ${maxAge} seconds of now`);
      }
      if (ath !== createHash('sha256').update(accessToken).digest('base64url')) {
        throw new DpopError('invalid_dpop_proof', 'the DPoP proof ath is not the hash of this access token');
      }
      const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
      if (thumbprint !== jkt) throw new DpopError('invalid_token', 'the DPoP proof is signed by another key than the one this access token is bound to');

      // Last, so that only a proof good in every other way is remembered. Kept
      // until its iat leaves the window, after which the iat check refuses it anyway.
      if (!(await replayCache.firstUse(`${thumbprint}:${jti}`, iat + maxAge))) {
        throw new DpopError('invalid_dpop_proof', 'the DPoP proof was used before');
      }
    },
  };
}

/** The URL without query and fragment, normalised by the WHATWG parser (case of scheme and host, default port, dot-segments); '' when unparsable. */
function withoutQuery(url: string | URL): string {
  const parsed = URL.parse(String(url));
  if (!parsed) return '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

/**
 * Proofs seen in the last window, in this process's memory. Bounded: when
 * `maxEntries` unexpired proofs are held, new proofs are refused with 503
 * (VerifierUnavailableError) until some expire, rather than forgetting one
 * that could then be replayed. At the 300 s default window, the default
 * bound is ~330 DPoP requests a second, sustained.
 */
export function createMemoryReplayCache(options: { maxEntries?: number } = {}): ReplayCache {
  const maxEntries = options.maxEntries ?? 100_000;
  const seen = new Map<string, number>();
  let nextSweep = 0;

  const sweep = (now: number) => {
    for (const [key, expiresAt] of seen) if (expiresAt < now) seen.delete(key);
  };

  return {
    firstUse(key, expiresAt) {
      const now = Math.floor(Date.now() / 1000);
      if (now >= nextSweep || seen.size >= maxEntries) {
        sweep(now);
        nextSweep = now + 10;
      }
      const known = seen.get(key);
      if (known !== undefined && known >= now) return false;
      if (seen.size >= maxEntries) throw new VerifierUnavailableError('too many recent DPoP proofs to remember; retry shortly');
      seen.set(key, expiresAt);
      return true;
    },
  };
}

// oidc-provider remembers each client assertion's and each DPoP proof's
// `jti` (RFC 7523 §3, RFC 9449 §11.1) through its ReplayDetection model,
// whose `unique` reads, then writes (lib/models/replay_detection.js): two
// requests carrying the same proof at the same moment, at one instance or
// at two sharing the store, could both read "absent" and both pass. Here
// `unique` is one conditional write instead (OidcModelRepository
// .insertIfAbsent: INSERT ... ON CONFLICT in PostgreSQL, a Lua script in
// Redis), so exactly one of them passes; and a request costs one statement
// where it cost two.
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { ReplayDetectionAdapter } from './adapter.ts';

export function makeReplayDetectionAtomic(provider: Provider): void {
  const model = provider.ReplayDetection as unknown as {
    adapter: Partial<ReplayDetectionAdapter>;
    unique(iss: string, jti: string, exp: number): Promise<boolean>;
  };
  // The built-in memory adapter (no database given) has no such write: the library's own read-then-write stays.
  if (typeof model.adapter.insertIfAbsent !== 'function') return;
  model.unique = async function unique(iss, jti, exp) {
    // The id and payload the library's own `unique` stores (a digest of iss and jti).
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    const now = Math.floor(Date.now() / 1000);
    return (this.adapter as ReplayDetectionAdapter).insertIfAbsent(id, { jti: id, iss, kind: 'ReplayDetection', iat: now, exp }, Math.max(1, exp - now));
  };
}

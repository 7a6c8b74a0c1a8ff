// tokenStorage 'store': a sign-in's refresh and access tokens kept in the
// BffStore instead of cookies, one entry per sign-in under tokensKey(bid).
// The binding id is a random 128-bit value known only to the sealed session
// cookie, so the browser holds a reference to its tokens, never the tokens.
// The entry lives as long as the sign-in may (its TTL is the session's
// remaining lifetime); deleting it ends the sign-in at the next request.
import { tokensKey, type BffStore } from './store.ts';
import type { Session, Tokens } from './session-cookies.ts';

export interface TokenStore {
  /** The tokens of sign-in `bid`; undefined when the store holds none (ended, expired, or written by a BFF in cookie mode). */
  read(bid: string): Promise<Tokens | undefined>;
  write(session: Session, tokens: Tokens): Promise<void>;
  forget(session: Session): Promise<void>;
  held(session: Session): Promise<boolean>;
}

/** The entry's JSON: short names, as in the cookies. */
interface Entry { rt: string; at?: string; ate?: number; jkt?: string }

export function createTokenStore(store: BffStore, now: () => number): TokenStore {
  return {
    async read(bid) {
      const raw = await store.get(tokensKey(bid));
      if (raw === undefined) return undefined;
      let entry: Entry;
      try {
        entry = JSON.parse(raw) as Entry;
      } catch {
        return undefined;
      }
      if (typeof entry?.rt !== 'string') return undefined;
      const tokens: Tokens = { refreshToken: entry.rt };
      if (typeof entry.at === 'string' && typeof entry.ate === 'number') {
        tokens.accessToken = entry.at;
        tokens.accessTokenExpiresAt = entry.ate;
        if (typeof entry.jkt === 'string') tokens.accessTokenJkt = entry.jkt;
      }
      return tokens;
    },
    async write(session, tokens) {
      const entry: Entry = { rt: tokens.refreshToken, at: tokens.accessToken, ate: tokens.accessTokenExpiresAt, jkt: tokens.accessTokenJkt };
      await store.set(tokensKey(session.bid), JSON.stringify(entry), Math.max(1, Math.ceil((session.expiresAt - now()) / 1000)));
    },
    async forget(session) {
      await store.delete(tokensKey(session.bid));
    },
    async held(session) {
      return (await store.get(tokensKey(session.bid))) !== undefined;
    },
  };
}

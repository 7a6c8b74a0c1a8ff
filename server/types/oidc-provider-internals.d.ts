// The oidc-provider internals Tollgate calls. The key store reload (keys/key-reload.ts):
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  export default function initializeKeystore(this: unknown, jwks: unknown): void;
}

// Its SSRF guard (lib/helpers/fetch_request.js): destroys a connection to a
// special-use address once connected, whatever name resolved to it. Reused for
// the requests to upstream providers (federation/upstream-fetch.ts), so one
// guard covers every request Tollgate makes.
declare module 'oidc-provider/lib/helpers/fetch_request.js' {
  export function applySSRFProtection<T extends { on(event: 'connect', listener: (origin: unknown, targets: unknown[]) => void): unknown }>(dispatcher: T): T;
}

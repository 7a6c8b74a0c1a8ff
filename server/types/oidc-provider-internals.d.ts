// The one oidc-provider internal Tollgate calls (keys/key-reload.ts).
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  export default function initializeKeystore(this: unknown, jwks: unknown): void;
}

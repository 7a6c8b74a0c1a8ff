// Signing keys change while Tollgate runs: `tollgate keys rotate` on any
// host rewrites the key file (atomically) in the KEYS_DIR every instance
// shares, and every instance notices within a quarter of a second, then
// signs with the new keys, publishes them at /jwks and accepts tokens signed
// by them, without a restart.
//
// The file is polled (fs.watchFile: a stat every 250 ms) rather than
// watched with inotify, which does not see changes made on another host of
// a network volume.
import { watchFile, unwatchFile } from 'node:fs';
import path from 'node:path';
import type Provider from 'oidc-provider';
// oidc-provider builds its keystore once, from the `jwks` option; this is
// the function that does it (lib/provider.js, oidc-provider 9.13), called
// again with the new keys. The key-rotation tests fail if an upgrade moves it.
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import type { Logger } from '../logger.ts';
import { readSigningKeys, SIGNING_KEYS_FILE, type SigningKeys } from './key-store.ts';

const POLL_MS = 250;

/** Hands oidc-provider a new private key set (the first key of each alg signs). */
export function replaceProviderKeys(provider: Provider, privateJwks: SigningKeys['privateJwks']): void {
  initializeKeystore.call(provider, structuredClone(privateJwks));
}

export interface KeyWatcher {
  stop(): void;
}

/** Calls `apply` with the keys each time the key file holds a different set. */
export function watchSigningKeys(keysDir: string, current: SigningKeys, apply: (keys: SigningKeys) => void, logger: Logger): KeyWatcher {
  const file = path.join(keysDir, SIGNING_KEYS_FILE);
  const kidsOf = (keys: SigningKeys) => keys.privateJwks.keys.map((k) => k.kid).join(' ');
  let kids = kidsOf(current);
  let reading = false;
  const check = async () => {
    if (reading) return;
    reading = true;
    try {
      // A removed file is not a rotation: the keys in use stay.
      const keys = await readSigningKeys(keysDir);
      if (!keys || kidsOf(keys) === kids) return;
      apply(keys);
      kids = kidsOf(keys);
      logger.info({ kids: keys.privateJwks.keys.map((k) => k.kid) }, 'signing keys reloaded');
    } catch (err) {
      // A file that cannot be read keeps the keys in use; the next change is tried again.
      logger.error({ err: { message: (err as Error).message } }, 'signing keys not reloaded');
    } finally {
      reading = false;
    }
  };
  const listener = () => void check();
  watchFile(file, { interval: POLL_MS, persistent: false }, listener);
  return { stop: () => unwatchFile(file, listener) };
}

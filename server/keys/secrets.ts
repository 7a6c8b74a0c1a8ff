// Cookie-signing secrets. Production passes COOKIE_SECRETS; development gets
// one generated and kept in KEYS_DIR so that sessions survive a restart.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';

export const SECRETS_FILE = 'secrets.json';

export async function resolveCookieSecrets(config: Pick<Config, 'cookieSecrets' | 'keysDir'>): Promise<string[]> {
  if (config.cookieSecrets) return [...config.cookieSecrets];
  const file = path.join(config.keysDir, SECRETS_FILE);
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as { cookieSecrets?: unknown };
    if (Array.isArray(stored.cookieSecrets) && stored.cookieSecrets.every((s) => typeof s === 'string' && s.length >= 32)) {
      return stored.cookieSecrets as string[];
    }
    throw new Error(`${file} is malformed; delete it to generate new secrets`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const cookieSecrets = [randomBytes(32).toString('base64url')];
  await mkdir(config.keysDir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, `${JSON.stringify({ cookieSecrets }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return resolveCookieSecrets(config);
  }
  return cookieSecrets;
}

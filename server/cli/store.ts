// What the CLI's database commands need (cli/commands.ts, `needs: 'store'`):
// the database, migrated as the server migrates it at start-up, and the
// account, audit and client-reading services over it. No oidc-provider,
// Koa, views or Redis: loading and wiring those took most of a command's
// time. Commands that need the provider (validating a client's metadata,
// back-channel logout) or Redis still build the whole Tollgate (tollgate.ts).
import type { Config } from '../config.ts';
import { NotFoundError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { openDatabase } from '../repositories/database.ts';
import { applyMigrations } from '../repositories/migrations.ts';
import { createAccountRepository } from '../repositories/account-repository.ts';
import { createAccountTokenRepository } from '../repositories/account-token-repository.ts';
import { createAuditRepository } from '../repositories/audit-repository.ts';
import { createAccountService } from '../services/accounts.ts';
import { createAudit } from '../services/audit.ts';
import { toClientView } from '../services/clients.ts';
import type { StoreServices } from './commands.ts';

export interface Store extends StoreServices {
  close(): Promise<void>;
}

export async function openStore(config: Config, logger: Logger): Promise<Store> {
  const database = await openDatabase(config);
  try {
    const migrated = await applyMigrations(database);
    // Only when asked: the client repository's cache invalidation brings in the Redis client.
    const clientRepository = async () => (await import('../repositories/client-repository.ts')).createClientRepository(database);
    return {
      migrated,
      accounts: createAccountService(createAccountRepository(database), { linkTokens: createAccountTokenRepository(database) }),
      audit: createAudit(createAuditRepository(database), logger),
      clients: {
        list: async () => (await (await clientRepository()).list()).map(toClientView),
        async get(id) {
          const stored = await (await clientRepository()).find(id);
          if (!stored) throw new NotFoundError(`no client with id "${id}"`);
          return toClientView(stored);
        },
      },
      close: () => database.close(),
    };
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
}

// What the CLI's database commands need (`migrate`, `users add`, `users list`,
// `clients list`): the database, migrated as the server migrates it at
// start-up, and the account and client services over it. No oidc-provider,
// Koa, views or Redis: loading and wiring those took most of a command's
// time. Commands that need the provider (validating a client's metadata,
// back-channel logout) still build the whole Tollgate (tollgate.ts).
import type { Config } from '../config.ts';
import { openDatabase } from '../repositories/database.ts';
import { applyMigrations } from '../repositories/migrations.ts';
import { createAccountRepository } from '../repositories/account-repository.ts';
import { createAccountService, type AccountService } from '../services/accounts.ts';
import { toClientView, type ClientView } from '../services/clients.ts';

export interface Store {
  /** Migrations applied by this opening. */
  readonly migrated: string[];
  readonly accounts: AccountService;
  listClients(): Promise<ClientView[]>;
  close(): Promise<void>;
}

export async function openStore(config: Config): Promise<Store> {
  const database = await openDatabase(config);
  try {
    const migrated = await applyMigrations(database);
    return {
      migrated,
      accounts: createAccountService(createAccountRepository(database)),
      listClients: async () => {
        // Only here: the client repository's cache invalidation brings in the Redis client.
        const { createClientRepository } = await import('../repositories/client-repository.ts');
        return (await createClientRepository(database).list()).map(toClientView);
      },
      close: () => database.close(),
    };
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
}

// First run: the bootstrap administrator and the "next steps" an operator
// reads after a first start.
//
// The bootstrap administrator follows Keycloak's (KC_BOOTSTRAP_ADMIN_USERNAME
// and _PASSWORD): the environment names one, and it is created at start only
// while no account has the admin role. Leaving the variables set is
// therefore harmless: once an administrator exists they are not read again.
import { randomBytes } from 'node:crypto';
import type { Config } from './config.ts';
import { ConflictError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { AccountService } from './services/accounts.ts';
import { ADMIN_API_PATH } from './routes/admin/openapi.ts';

/** 18 random bytes: 24 base64url characters, 144 bits, well past any guessing. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * Whether any account has the admin role. Pages through the accounts oldest
 * first and stops at the first administrator, who is nearly always among the
 * first accounts made; without TOLLGATE_ADMIN_EMAIL this never runs.
 */
async function anyAdministrator(accounts: AccountService, pageSize = 500): Promise<boolean> {
  for (let offset = 0; ; offset += pageSize) {
    const page = await accounts.list({ limit: pageSize, offset });
    if (page.some((a) => a.roles.includes('admin'))) return true;
    if (page.length < pageSize) return false;
  }
}

export type BootstrapOutcome = 'not-asked' | 'administrator-exists' | 'email-taken' | 'created';

/**
 * Creates the bootstrap administrator when TOLLGATE_ADMIN_EMAIL is set and no
 * account has the admin role. A generated password goes to `announce` (the
 * process's standard error), once: never to the JSON log, which is shipped
 * and kept, and never again, since the next start finds the administrator.
 */
export async function bootstrapAdministrator(deps: {
  config: Pick<Config, 'bootstrapAdmin' | 'issuer'>;
  accounts: AccountService;
  logger: Logger;
  announce: (line: string) => void;
}): Promise<BootstrapOutcome> {
  const { config, accounts, logger } = deps;
  const wanted = config.bootstrapAdmin;
  if (!wanted) return 'not-asked';
  if (await anyAdministrator(accounts)) return 'administrator-exists';
  if (await accounts.idForEmail(wanted.email)) {
    // Promoting an existing account on the strength of an environment variable
    // would hand the admin role to whoever registered that e-mail first.
    logger.warn({ email: wanted.email }, 'bootstrap administrator not created: an account with TOLLGATE_ADMIN_EMAIL exists without the admin role; grant it the role through the admin API or the CLI, or choose another e-mail');
    return 'email-taken';
  }
  const password = wanted.password ?? generatePassword();
  let id: string;
  try {
    ({ id } = await accounts.create({ email: wanted.email, password, roles: ['admin'] }));
  } catch (err) {
    // Another instance starting beside this one (on the same PostgreSQL) made it first.
    if (err instanceof ConflictError) return 'administrator-exists';
    throw err;
  }
  logger.info({ email: wanted.email, account_id: id, password_from: wanted.password ? 'TOLLGATE_ADMIN_PASSWORD' : 'generated, printed once on standard error' }, 'bootstrap administrator created');
  if (!wanted.password) {
    deps.announce(`tollgate: BOOTSTRAP ADMINISTRATOR ${wanted.email} PASSWORD: ${password} (generated; printed this once only: store it now, then change it with POST ${config.issuer}${ADMIN_API_PATH}/users/${id}/password)`);
  }
  return 'created';
}

/** One log line after a first start: where to look, and what to do next. */
export function logNextSteps(logger: Logger, config: Pick<Config, 'issuer' | 'bootstrapAdmin'>): void {
  const cli = 'npm run --silent tollgate --';
  logger.info({
    discovery: `${config.issuer}/.well-known/openid-configuration`,
    account_page: `${config.issuer}/account`,
    register_a_client: `${cli} clients add --id my-app --redirect-uri https://my-app.example.com/callback`,
    ...(config.bootstrapAdmin ? {} : {
      create_an_administrator: `set TOLLGATE_ADMIN_EMAIL (and TOLLGATE_ADMIN_PASSWORD) and restart, or: ${cli} users add --email you@example.com --password-stdin --role admin`,
    }),
    guide: 'docs/deploying.md',
  }, 'first start: next steps');
}

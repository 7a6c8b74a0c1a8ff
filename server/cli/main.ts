// The tollgate command: `npm run --silent tollgate -- <command>`.
// Same environment variables as the server; results are JSON on stdout,
// diagnostics on stderr. Exit 0 on success, 1 when the command failed
// (a duplicate, say), 2 for bad arguments.
// Each command loads only what it needs (dynamic imports below): `keys list`
// reads a file, the database commands open the database (cli/store.ts), and
// only the commands that need oidc-provider build the whole Tollgate.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ZodError } from 'zod';
import { loadConfig, type Config } from '../config.ts';
import { ConfigError, NotFoundError, TollgateError, ValidationError } from '../errors.ts';
import type { Tollgate } from '../tollgate.ts';
import type { NewAccountInput } from '../services/accounts.ts';
import type { NewClientInput } from '../services/clients.ts';
import type { Store } from './store.ts';

const USAGE = `usage: npm run --silent tollgate -- <command> [options]

commands:
  migrate                                   apply pending database migrations
  users add --email E (--password P | --password-stdin) [--name N] [--role admin] [--org ORG]
  users list
  users logout --email E                    end every session and grant of a user, revoke their
                                            refresh tokens, send back-channel logout tokens
  clients add --id ID [--secret S | --public] [--name N] [--application-type web|native]
              [--redirect-uri U ...] [--post-logout-redirect-uri U ...]
              [--grant-types authorization_code,refresh_token,client_credentials]
              [--scope "openid profile email offline_access basic"] [--first-party]
              [--backchannel-logout-uri U] [--refresh-grace SECONDS]
              [--access-token-ttl SECONDS] [--introspects AUDIENCE ...]
                                            --introspects: a resource server, which may introspect
                                            the access tokens issued for AUDIENCE
  clients list
  keys list                                 the signing keys (kid, alg, use; signing: signs new tokens)
  keys rotate                               add a new RS256 and ES256 key in front, keep the previous
                                            pair published, drop older ones; running instances sharing
                                            KEYS_DIR switch to them within a second

Results are JSON on stdout. Exit status: 0 done, 1 failed, 2 bad arguments.`;

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
type Command = {
  options: Options;
  /** Checks the arguments before anything is opened: bad values exit 2 even while the embedded database is busy. */
  prepare?: (values: Record<string, unknown>) => Promise<Record<string, unknown>>;
} & (
  // Needs oidc-provider (client metadata validation, back-channel logout): the whole Tollgate, as the server builds it.
  | { uses: 'tollgate'; run: (t: Tollgate, values: Record<string, unknown>) => Promise<unknown> }
  // Needs the database only, migrated as at start-up.
  | { uses: 'database'; run: (store: Store, values: Record<string, unknown>) => Promise<unknown> }
  // Needs no database (the key commands): runs even while the embedded database is held by the server.
  | { uses: 'nothing'; run: (config: Config, values: Record<string, unknown>) => Promise<unknown> }
);

const COMMANDS: Record<string, Command> = {
  migrate: {
    options: {},
    uses: 'database',
    // Opening the store has applied them already; report what it did.
    run: async (store) => ({ applied: store.migrated }),
  },
  'users add': {
    options: {
      email: { type: 'string' }, password: { type: 'string' }, 'password-stdin': { type: 'boolean' },
      name: { type: 'string' }, role: { type: 'string', multiple: true }, org: { type: 'string' },
    },
    prepare: async (v) => {
      if (v.password !== undefined && v['password-stdin']) throw new UsageError('give either --password or --password-stdin');
      const password = v['password-stdin'] ? await readStdinLine() : v.password;
      if (typeof v.email !== 'string' || typeof password !== 'string') throw new UsageError('users add needs --email and --password (or --password-stdin)');
      const { newAccountInput } = await import('../services/accounts.ts');
      return newAccountInput.parse({ email: v.email, password, name: v.name, roles: v.role, organisation: v.org });
    },
    uses: 'database',
    run: (store, input) => store.accounts.create(input as NewAccountInput),
  },
  'users list': { options: {}, uses: 'database', run: (store) => store.accounts.list() },
  'users logout': {
    options: { email: { type: 'string' } },
    uses: 'tollgate',
    prepare: async (v) => {
      if (typeof v.email !== 'string') throw new UsageError('users logout needs --email');
      return { email: v.email.trim().toLowerCase() };
    },
    run: async (t, input) => {
      const account = await t.repositories.accounts.findByEmail(String(input.email));
      if (!account) throw new NotFoundError(`no account with e-mail "${String(input.email)}"`);
      const ended = await t.sessions.endEverything(account.id);
      await t.audit.record('user.forced_logout', { accountId: account.id, details: { ...ended, by: 'cli' } });
      return { account: account.id, ...ended };
    },
  },
  'clients add': {
    options: {
      id: { type: 'string' }, secret: { type: 'string' }, public: { type: 'boolean' }, name: { type: 'string' }, 'application-type': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true }, 'post-logout-redirect-uri': { type: 'string', multiple: true },
      'grant-types': { type: 'string' }, scope: { type: 'string' }, 'first-party': { type: 'boolean' },
      'backchannel-logout-uri': { type: 'string' }, 'refresh-grace': { type: 'string' }, 'access-token-ttl': { type: 'string' },
      introspects: { type: 'string', multiple: true },
    },
    prepare: async (v) => {
      if (typeof v.id !== 'string') throw new UsageError('clients add needs --id');
      const { assertClientUris, newClientInput } = await import('../services/clients.ts');
      const grantTypes = typeof v['grant-types'] === 'string' ? v['grant-types'].split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      const input = newClientInput.parse({
        id: v.id,
        secret: v.secret,
        public: Boolean(v.public),
        name: v.name,
        applicationType: v['application-type'],
        redirectUris: v['redirect-uri'] ?? [],
        postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [],
        grantTypes,
        scope: v.scope,
        firstParty: Boolean(v['first-party']),
        backchannelLogoutUri: v['backchannel-logout-uri'],
        refreshTokenReuseGrace: v['refresh-grace'] === undefined ? undefined : Number(v['refresh-grace']),
        accessTokenTtl: v['access-token-ttl'] === undefined ? undefined : Number(v['access-token-ttl']),
        introspectionAudiences: v.introspects,
      });
      // The URI rules need no database: a refused URI exits 2 even while the database is busy or unreachable.
      assertClientUris({
        application_type: input.applicationType, redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris, backchannel_logout_uri: input.backchannelLogoutUri,
      }, { production: loadConfig().env === 'production' });
      return input;
    },
    uses: 'tollgate',
    run: (t, input) => t.clients.register(input as NewClientInput),
  },
  'clients list': { options: {}, uses: 'database', run: (store) => store.listClients() },
  'keys list': {
    options: {},
    uses: 'nothing',
    run: async (config) => (await import('../keys/key-store.ts')).listSigningKeys(config.keysDir),
  },
  'keys rotate': {
    options: {},
    uses: 'nothing',
    run: async (config) => ({
      ...(await (await import('../keys/key-store.ts')).rotateSigningKeys(config.keysDir)),
      // Running instances poll the key file (keys/key-reload.ts).
      note: 'instances sharing this KEYS_DIR sign with the new keys within a second, no restart; tokens signed by a retired key stop verifying',
    }),
  },
};

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) return usage('no command given');
  if (argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const name = COMMANDS[argv[0]!] ? argv[0]! : `${argv[0]} ${argv[1] ?? ''}`.trim();
  const command = COMMANDS[name];
  if (!command) return usage(`unknown command: ${name}`);
  const rest = argv.slice(name.split(' ').length);

  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return usage((err as Error).message);
  }

  let opened: { close(): Promise<void> } | undefined;
  try {
    if (command.prepare) values = await command.prepare(values);
    const config = loadConfig();
    let result: unknown;
    if (command.uses === 'nothing') {
      result = await command.run(config, values);
    } else if (command.uses === 'database') {
      const { openStore } = await import('./store.ts');
      const store = await openStore(config);
      opened = store;
      result = await command.run(store, values);
    } else {
      const [{ default: pino }, { createLogger }, { createTollgate }] = await Promise.all([
        import('pino'), import('../logger.ts'), import('../tollgate.ts'),
      ]);
      // Diagnostics go to stderr at warn and above; stdout carries only the result.
      const logger = createLogger({ logLevel: config.logLevel === 'silent' ? 'silent' : 'warn' }, pino.destination({ dest: 2, sync: true }));
      const tollgate = await createTollgate(config, logger, { janitor: false, watchKeys: false, reportNonconformingClients: false });
      opened = tollgate;
      result = await command.run(tollgate, values);
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    if (err instanceof ZodError) {
      const issue = err.issues[0]!;
      return usage(`${issue.path.length ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ` : ''}${issue.message}`);
    }
    if (err instanceof ValidationError) return usage(err.fields ? describeFields(err.fields) : err.message);
    if (err instanceof ConfigError) {
      process.stderr.write(`tollgate: invalid configuration: ${err.message}\n`);
      return 1;
    }
    const message = err instanceof TollgateError ? err.message : `unexpected error: ${(err as Error)?.message}`;
    process.stderr.write(`tollgate: ${message}\n`);
    return 1;
  } finally {
    await opened?.close();
  }
}

/** The options that carry client metadata fields (RFC 7591 names, as the service reports them). */
const OPTION_OF_FIELD: Record<string, string> = {
  redirect_uris: '--redirect-uri', post_logout_redirect_uris: '--post-logout-redirect-uri',
  backchannel_logout_uri: '--backchannel-logout-uri', application_type: '--application-type',
};

/** `redirect_uris.1: must use https` → `--redirect-uri (2nd): must use https`, one line per field. */
function describeFields(fields: Record<string, string>): string {
  return Object.entries(fields).map(([field, problem]) => {
    const [name, index] = field.split('.');
    const option = OPTION_OF_FIELD[name!] ?? name;
    const nth = index === undefined ? '' : ` (${ordinal(Number(index) + 1)})`;
    return `${option}${nth}: ${problem}`;
  }).join('\ntollgate: ');
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

function usage(problem: string): number {
  process.stderr.write(`tollgate: ${problem}\n\n${USAGE}\n`);
  return 2;
}

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

process.exitCode = await main(process.argv.slice(2));

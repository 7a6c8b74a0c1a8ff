// The tollgate command: `npm run --silent tollgate -- <command>`.
// Same environment variables as the server; results are JSON on stdout,
// diagnostics on stderr. Exit 0 on success, 1 when the command failed
// (a duplicate, an unknown user, a busy database), 2 for bad arguments (with
// the usage of the command that was wrong, and a suggestion for a mistyped
// command or option). Parsing, --help, --version and suggestions are
// commander's; the commands themselves are declared in commands.ts.
//
// Where a command runs: the key commands read KEYS_DIR only. The others open
// the database themselves (PostgreSQL beside any number of servers, or the
// embedded database when no server holds it); while a server holds the
// embedded database, the CLI sends the command to that server's control
// socket (control-socket.ts) and the server runs it.
// First: libraries' console output (oidc-provider's notices) becomes stderr
// diagnostics, never text mixed into the JSON on stdout.
import { sendConsoleToStderr } from '../console-to-log.ts';
import { readFileSync } from 'node:fs';
import { Command as Program, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { loadConfig, type Config } from '../config.ts';
import { ConfigError, DatabaseBusyError, TollgateError, ValidationError } from '../errors.ts';
import { projectPath } from '../paths.ts';
import { COMMANDS, GROUPS, kebab, UsageError, type Command } from './commands.ts';

sendConsoleToStderr();

const EXIT = { done: 0, failed: 1, badArguments: 2 } as const;

const HELP_AFTER = `
Run it as: npm run --silent tollgate -- <command> [options]
Each command's options: npm run --silent tollgate -- <command> --help
Configuration: the server's environment variables (DATABASE_URL, DATA_DIR, KEYS_DIR, ...).
Results are JSON on stdout. Exit status: 0 done, 1 failed, 2 bad arguments.
While the server runs on the embedded database, commands go to it through its
control socket in DATA_DIR (docs/cli.md).`;

interface Chosen { name: string; command: Command; values: Record<string, unknown>; help: Program }

/** The commander program, built from the command table. */
function buildProgram(argv: readonly string[], choose: (chosen: Chosen) => void): Program {
  const version = (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
  const program = new Program('tollgate')
    .version(version, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .addHelpText('after', HELP_AFTER);
  const groups = new Map<string, Program>();
  for (const [name, command] of Object.entries(COMMANDS)) {
    const [first, second] = name.split(' ') as [string, string | undefined];
    let parent = program;
    if (second) {
      parent = groups.get(first) ?? program.command(first).description(GROUPS[first] ?? '').helpOption('-h, --help', 'print this help');
      groups.set(first, parent);
    }
    const sub = parent.command(second ?? first).description(command.summary).helpOption('-h, --help', 'print this help');
    for (const option of Object.values(command.options)) {
      if (option.repeatable) sub.option(option.flags, option.description, (value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
      else sub.option(option.flags, option.description);
    }
    sub.action((values: Record<string, unknown>) => choose({ name, command, values, help: sub }));
  }
  // Every level: errors are thrown (exit codes are ours), shown with the usage of the command that was wrong.
  const configure = (c: Program) => {
    c.exitOverride().showHelpAfterError().showSuggestionAfterError().configureOutput({
      outputError: (text, write) => write(`tollgate: ${suggestWholeCommand(text.replace(/^error: /, ''), argv)}`),
    });
    c.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/**
 * Commander suggests the nearest word at the level that was wrong: for
 * `tollgate client add` it would say `clients`; when the next word is a
 * command of that group, say the whole command (`clients add`).
 */
function suggestWholeCommand(text: string, argv: readonly string[]): string {
  return text.replace(/\(Did you mean (\S+)\?\)/, (whole, group: string) => {
    const typed = argv.findIndex((a) => !a.startsWith('-'));
    const next = argv[typed + 1];
    return next && COMMANDS[`${group} ${next}`] ? `(Did you mean ${group} ${next}?)` : whole;
  });
}

async function main(argv: string[]): Promise<number> {
  let chosen: Chosen | undefined;
  const program = buildProgram(argv, (c) => { chosen = c; });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.done : EXIT.badArguments;
    throw err;
  }
  // `tollgate users` (a group alone) has printed its help and thrown above; nothing else is left unchosen.
  if (!chosen) return EXIT.badArguments;
  const { name, command, help } = chosen;

  let closeOpened: (() => Promise<void>) | undefined;
  try {
    const raw = await command.collect(chosen.values, { readStdin });
    const config = loadConfig();
    const input = await command.check(raw, { production: config.env === 'production' });
    let result: unknown;
    if (command.needs === 'keys') {
      result = await command.run(config, input);
    } else {
      const direct = await runDirectly(config, command, input);
      closeOpened = direct?.close;
      result = direct ? direct.result : await sendToServer(config, name, input);
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return EXIT.done;
  } catch (err) {
    if (err instanceof UsageError) return badArguments([err.message], help);
    if (err instanceof ZodError) return badArguments(err.issues.map((i) => `${optionOf(i.path.map(String).join('.'))}: ${i.message}`), help);
    if (err instanceof ValidationError) {
      return badArguments(err.fields ? Object.entries(err.fields).map(([field, problem]) => `${optionOf(field)}: ${problem}`) : [err.message], help);
    }
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`tollgate: invalid configuration: ${problem}\n`);
      return EXIT.failed;
    }
    const message = err instanceof TollgateError && err.expose ? err.message : `unexpected error: ${(err as Error)?.message}`;
    process.stderr.write(`tollgate: ${message}\n`);
    return EXIT.failed;
  } finally {
    await closeOpened?.();
  }
}

/**
 * Runs the command in this process, or returns undefined when a server holds
 * the embedded database (the caller then sends it there). The lock is
 * checked first, so the busy case does not pay for loading oidc-provider.
 */
async function runDirectly(config: Config, command: Command, input: unknown): Promise<{ result: unknown; close(): Promise<void> } | undefined> {
  const embedded = config.database.url === undefined;
  if (embedded && await (await import('../repositories/embedded-lock.ts')).embeddedDatabaseOwner(config.database.dataDir) !== undefined) return undefined;
  const [{ default: pino }, { createLogger }] = await Promise.all([import('pino'), import('../logger.ts')]);
  // Diagnostics go to stderr at warn and above; stdout carries only the result.
  const logger = createLogger({ logLevel: config.logLevel === 'silent' ? 'silent' : 'warn' }, pino.destination({ dest: 2, sync: true }));
  try {
    if (command.needs === 'store') {
      const store = await (await import('./store.ts')).openStore(config, logger);
      return { result: await command.run(store, input).catch(async (err: unknown) => { await store.close(); throw err; }), close: () => store.close() };
    }
    if (command.needs === 'server') {
      const tollgate = await (await import('../tollgate.ts')).createTollgate(config, logger, { janitor: false, watchKeys: false, reportNonconformingClients: false, checkUpstreamSecrets: false });
      return { result: await command.run(tollgate, input).catch(async (err: unknown) => { await tollgate.close(); throw err; }), close: () => tollgate.close() };
    }
    throw new Error(`"${command.needs}" commands run without the database`);
  } catch (err) {
    // A server took the database between the check and the opening.
    if (embedded && err instanceof DatabaseBusyError) return undefined;
    throw err;
  }
}

async function sendToServer(config: Config, name: string, input: unknown): Promise<unknown> {
  const { sendCommand } = await import('./control-socket.ts');
  return sendCommand(config.database.dataDir, { command: name, input });
}

/** The option a field came from: `redirectUris.1` → `--redirect-uri (2nd)`; the RFC 7591 names the client service reports, too. */
const OPTION_OF_FIELD: Record<string, string> = {
  redirect_uris: 'redirectUri', redirectUris: 'redirectUri', post_logout_redirect_uris: 'postLogoutRedirectUri', postLogoutRedirectUris: 'postLogoutRedirectUri',
  backchannel_logout_uri: 'backchannelLogoutUri', application_type: 'applicationType', introspection_audiences: 'introspects', introspectionAudiences: 'introspects',
  roles: 'role', organisation: 'org', refreshTokenReuseGrace: 'refreshGrace', id: 'id', jwks: 'jwksFile',
};

function optionOf(field: string): string {
  if (field === '' || field === '(input)') return 'arguments';
  const [name, index] = field.split('.');
  const option = `--${kebab(OPTION_OF_FIELD[name!] ?? name!)}`;
  return index === undefined || !/^\d+$/.test(index) ? option : `${option} (${ordinal(Number(index) + 1)})`;
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

/** One line per problem, then the usage of this command only. */
function badArguments(problems: string[], help: Program): number {
  process.stderr.write(`${problems.map((p) => `tollgate: ${p}\n`).join('')}\n${help.helpInformation()}`);
  return EXIT.badArguments;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

process.exitCode = await main(process.argv.slice(2));

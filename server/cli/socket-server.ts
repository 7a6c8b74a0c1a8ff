// The server's side of the control socket (the protocol and why it is safe:
// control-socket.ts). Started by main.ts on the embedded database only: with
// PostgreSQL the CLI opens the database itself, beside any number of servers.
//
// A request runs the command's own declaration (cli/commands.ts) against the
// running Tollgate's services, exactly as the CLI runs it directly: same
// validation, same services as the admin API, same audit events (actor
// "cli"). The log names the command and its outcome, never its input (it may
// hold a password).
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ZodError } from 'zod';
import { TollgateError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Tollgate } from '../tollgate.ts';
import { COMMANDS, type ServerServices } from './commands.ts';
import { controlSocketPath, MAX_REQUEST_BYTES, type ControlFailure, type ControlReply } from './control-socket.ts';

export interface CliSocket {
  /** Stops accepting, lets commands in progress finish (bounded), removes the socket file. */
  close(): Promise<void>;
}

const CLOSE_WAIT_MS = 5_000;
/** A connection that sends no whole request within this is dropped. */
const IDLE_TIMEOUT_MS = 10_000;

/** Starts answering the CLI in DATA_DIR; on failure logs why and returns a handle that does nothing (the server itself runs on). */
export async function serveCliSocket(tollgate: Pick<Tollgate, 'config' | 'database' | 'accounts' | 'audit' | 'clients' | 'sessions' | 'passwordReset' | 'emailVerification' | 'accountDeletion' | 'providers' | 'mfa' | 'passkeys' | 'apis'>, logger: Logger): Promise<CliSocket> {
  const idle: CliSocket = { close: async () => {} };
  if (tollgate.database.kind !== 'embedded') return idle;
  const socketPath = controlSocketPath(tollgate.config.database.dataDir);
  try {
    await prepare(socketPath);
  } catch (err) {
    logger.error({ socket: socketPath, err: { message: (err as Error).message } }, 'CLI control socket not started: the CLI cannot reach this server while it runs');
    return idle;
  }

  const services: ServerServices = {
    // The server applied them at start; a `migrate` sent here has none left to apply.
    migrated: [],
    accounts: tollgate.accounts,
    audit: tollgate.audit,
    clients: tollgate.clients,
    sessions: tollgate.sessions,
    passwordReset: tollgate.passwordReset,
    emailVerification: tollgate.emailVerification,
    accountDeletion: tollgate.accountDeletion,
    mfa: tollgate.mfa,
    passkeys: tollgate.passkeys,
    providers: tollgate.providers,
    apis: tollgate.apis,
  };
  const production = tollgate.config.env === 'production';
  const inProgress = new Set<Promise<void>>();
  const connections = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => {});
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.setEncoding('utf8');
    let received = '';
    const onData = (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end < 0 && received.length <= MAX_REQUEST_BYTES) return;
      socket.off('data', onData);
      // The request is in: a command may take a while (back-channel logout), and must not be cut short for idling.
      socket.setTimeout(0);
      // Answered once; the command runs to its end even if the CLI goes away (it has started changing things).
      const work = answer(end < 0 ? undefined : received.slice(0, end)).then((reply) => {
        if (!socket.destroyed) socket.end(`${JSON.stringify(reply)}\n`);
      });
      inProgress.add(work);
      void work.finally(() => inProgress.delete(work));
    };
    socket.on('data', onData);
  });

  async function answer(line: string | undefined): Promise<ControlReply> {
    if (line === undefined) return failure({ code: 'invalid_request', message: `a request is one JSON line of at most ${MAX_REQUEST_BYTES} bytes`, status: 400 });
    let name = '(unreadable)';
    let request: { command?: unknown; input?: unknown };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      return failure({ code: 'invalid_request', message: 'a request is one JSON line', status: 400 });
    }
    try {
      const command = typeof request.command === 'string' && Object.hasOwn(COMMANDS, request.command) ? COMMANDS[request.command] : undefined;
      if (!command || command.needs === 'keys') {
        // The key commands never need the server: the CLI runs them itself.
        return failure({ code: 'invalid_request', message: 'this server does not run that command', status: 400 });
      }
      name = request.command as string;
      const input = await command.check(request.input, { production });
      const result = await command.run(services, input);
      logger.info({ cli_command: name, outcome: 'done' }, 'CLI command');
      return { ok: true, result };
    } catch (err) {
      if (err instanceof ZodError) {
        const fields = Object.fromEntries(err.issues.map((i) => [i.path.map(String).join('.') || '(input)', i.message]));
        const [first] = Object.entries(fields);
        return failure({ code: 'invalid_request', message: first ? `${first[0]}: ${first[1]}` : 'invalid input', status: 400, fields });
      }
      if (err instanceof TollgateError && err.expose) {
        logger.info({ cli_command: name, outcome: err.code }, 'CLI command');
        return failure({ code: err.code, message: err.message, status: err.status, ...('fields' in err && err.fields ? { fields: err.fields as Record<string, string> } : {}) });
      }
      // The detail is for the operator's log; the CLI gets the general line.
      logger.error({ cli_command: name, err: { message: (err as Error)?.message } }, 'CLI command failed');
      return failure({ code: 'server_error', message: "the server could not run the command; its log has the reason", status: 500 });
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // The 0700 directory already keeps everyone else out; the socket's own mode says the same.
    await chmod(socketPath, 0o600);
  } catch (err) {
    server.close();
    logger.error({ socket: socketPath, err: { message: (err as Error).message } }, 'CLI control socket not started: the CLI cannot reach this server while it runs');
    return idle;
  }
  logger.debug({ socket: socketPath }, 'CLI control socket listening');

  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.race([Promise.allSettled([...inProgress]), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
      for (const socket of connections) socket.destroy();
      await closed;
      await rm(socketPath, { force: true });
    },
  };
}

function failure(error: ControlFailure): ControlReply {
  return { ok: false, error };
}

/**
 * Makes DATA_DIR/control ours and private (0700), and clears a socket file
 * left by a server that died without closing: none other can be using it,
 * since this process holds the embedded database's lock. Anything there that
 * is not a socket, or a directory another user owns, is refused, not replaced.
 */
async function prepare(socketPath: string): Promise<void> {
  const dir = path.dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stats = await lstat(dir);
  if (!stats.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (stats.uid !== process.getuid?.()) throw new Error(`${dir} belongs to another user (uid ${stats.uid})`);
  // mkdir's mode is filtered by the umask and ignored for a directory that already exists.
  await chmod(dir, 0o700);
  try {
    const existing = await lstat(socketPath);
    if (!existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
    await rm(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

// The control socket: how the CLI reaches a running server that holds the
// embedded database. PGlite is one process's database (a second process
// opening its files would corrupt them), so while the server runs, the CLI
// hands it the command instead: one Unix domain socket in DATA_DIR, one JSON
// line each way (request: command + input; reply: result or typed error).
// The server runs the command through the same declaration and services as
// the CLI would (cli/commands.ts); socket-server.ts is its side.
//
// Who may talk to it, and why that is enough:
// - The socket lives in DATA_DIR/control, a directory of mode 0700 owned by
//   the server's user, and is itself mode 0600. Connecting to a Unix socket
//   needs search permission on its directory and write permission on the
//   socket: only that user (and root) can connect. The directory is the real
//   guard (some systems ignore a socket file's own mode), and it exists
//   before the socket does, so there is no moment when the socket is open to
//   others.
// - That user can already read DATA_DIR's database and KEYS_DIR's keys, so
//   the socket gives them nothing they do not have: it replaces opening the
//   files (impossible while the server holds them), it adds no privilege.
//   Hence no password or token on the socket.
// - The CLI checks before sending anything (a new password, say): the
//   directory must be its own user's, with no access for group or others, and
//   the socket its own user's. A socket another user made, where they could
//   read what is sent, is refused.
// - The server never trusts the request: it validates the input again, as
//   the admin API validates a body, and answers a typed error, never a stack.
import { lstat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ControlSocketError, TollgateError, ValidationError } from '../errors.ts';

/** DATA_DIR/control/cli.sock: a short path (a Unix socket path has at most 107 bytes). */
export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, 'control', 'cli.sock');
}

/** Longer requests are refused: the largest real one (`clients add` with many URIs) is a few KB. */
export const MAX_REQUEST_BYTES = 1 << 20;

export interface ControlRequest { command: string; input: unknown }

export interface ControlFailure {
  /** Our error codes (errors.ts): `invalid_request` is bad input (exit 2), anything else a failure (exit 1). */
  code: string;
  message: string;
  status: number;
  fields?: Record<string, string>;
}

export type ControlReply = { ok: true; result: unknown } | { ok: false; error: ControlFailure };

const uid = () => process.getuid?.();

/** Throws ControlSocketError unless `dir` is this user's, closed to everyone else, and `socket` is this user's socket. */
export async function assertPrivate(dir: string, socket: string): Promise<void> {
  const me = uid();
  let d;
  let s;
  try {
    [d, s] = [await lstat(dir), await lstat(socket)];
  } catch {
    throw new ControlSocketError(`the server has no control socket at ${socket}`);
  }
  if (!d.isDirectory() || d.uid !== me || (d.mode & 0o077) !== 0) {
    throw new ControlSocketError(`${dir} is not a directory private to this user (owner uid ${d.uid}, mode ${(d.mode & 0o777).toString(8)}): refusing to use its socket`);
  }
  if (!s.isSocket() || s.uid !== me) {
    throw new ControlSocketError(`${socket} is not a socket owned by this user (owner uid ${s.uid}): refusing to use it`);
  }
}

/**
 * Sends one command to the server holding the embedded database in `dataDir`
 * and returns its result; a failure comes back as the error type it was
 * (ValidationError for bad input, the others as TollgateError with their code).
 */
export async function sendCommand(dataDir: string, request: ControlRequest, timeoutMs = 60_000): Promise<unknown> {
  const socketPath = controlSocketPath(dataDir);
  await assertPrivate(path.dirname(socketPath), socketPath);
  const reply = await new Promise<ControlReply>((resolve, reject) => {
    const socket = net.connect(socketPath);
    let received = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new ControlSocketError(`the server did not answer within ${timeoutMs / 1000} s`)));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length > MAX_REQUEST_BYTES * 16) socket.destroy(new ControlSocketError('the server sent an answer too long to be one'));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof TollgateError ? err
      : new ControlSocketError(`the server's control socket (${socketPath}) is not answering: ${err.code ?? err.message}`)));
    socket.on('end', () => {
      try {
        resolve(JSON.parse(received.split('\n')[0]!) as ControlReply);
      } catch {
        reject(new ControlSocketError('the server closed the control socket without an answer'));
      }
    });
  });
  if (reply.ok) return reply.result;
  const { code, message, status, fields } = reply.error;
  if (code === 'invalid_request') throw new ValidationError(message, fields);
  throw new TollgateError(code, message, status, true);
}

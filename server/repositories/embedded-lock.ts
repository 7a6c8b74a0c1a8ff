// Who holds the embedded database: the lock file's owner, and whether it
// still lives. database.ts takes the lock; the CLI only looks (without
// loading the database drivers, which take most of a second to import), to
// hand its command to the server that holds it (cli/control-socket.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** In DATA_DIR, beside the database directory. */
export const LOCK_FILE = 'pglite.lock';

/**
 * The owner is identified by pid and, where /proc exists, the process's start
 * time: after a crash in a container the same pid (often 1) belongs to a new
 * process, and a pid alone would keep the database locked forever.
 */
export interface LockOwner { pid: number; start?: string }

/** Fields of /proc/<pid>/stat: its state (R, S, Z, …) and start time; undefined without /proc or the process. */
async function processStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name in field 2 may contain spaces, so count from its closing parenthesis:
    // field 3 (state) comes first, field 22 (starttime) 19 after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, start: fields[19]! };
  } catch {
    return undefined;
  }
}

export async function processStart(pid: number): Promise<string | undefined> {
  return (await processStat(pid))?.start;
}

export async function ownerAlive(owner: LockOwner): Promise<boolean> {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await processStat(owner.pid);
  // A killed server whose parent has not reaped it yet is a zombie: it
  // answers kill(0) but holds nothing (its files, the database, are closed).
  // Where PID 1 does not reap orphans (some containers), it stays one.
  if (stat && (stat.state === 'Z' || stat.state === 'X')) return false;
  if (owner.start === undefined) return true;
  return stat === undefined || stat.start === owner.start;
}

/** The live process holding the embedded database in `dataDir`, if any. */
export async function embeddedDatabaseOwner(dataDir: string): Promise<number | undefined> {
  let owner: LockOwner;
  try {
    owner = JSON.parse(await readFile(path.join(dataDir, LOCK_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
  return await ownerAlive(owner) ? owner.pid : undefined;
}

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

export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name in field 2 may contain spaces, so count from its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export async function ownerAlive(owner: LockOwner): Promise<boolean> {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.start === undefined) return true;
  const now = await processStart(owner.pid);
  return now === undefined || now === owner.start;
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

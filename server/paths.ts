// Files read at run time (views/, their locales and stylesheet,
// prisma/migrations/) live at the project root, beside package.json. The
// server runs both from its TypeScript sources (server/, under tsx) and
// compiled (dist/server/): one directory deeper, so a path relative to the
// module would differ between the two. The root is the nearest directory
// above this module that holds package.json.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PROJECT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path under the project root, whether running from server/ or dist/server/. */
export function projectPath(...segments: string[]): string {
  return path.join(PROJECT_ROOT, ...segments);
}

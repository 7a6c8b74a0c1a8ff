// The bff_proxy scenario still runs end to end (issue 18's closing note is
// taken with it): a sign-in through tollgate/bff, then calls to the notes
// API directly and through the BFF's proxy (plain and DPoP-bound), every
// one answered 200 without a refresh. Nothing here looks at a figure:
// timings never belong in tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('npm run bench -- --only bff_proxy signs in through the BFF and measures both paths, each call answered 200', { timeout: 240_000 }, async () => {
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['bench/run.ts', '--only', 'bff_proxy', '--duration', '1', '--connections', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  // Exit 1 when any request was not a 2xx (the bench's own check), 0 otherwise.
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  const rows = stdout.split('\n').filter((line) => /^\| (GET|the same)/.test(line)).map((line) => line.split('|').slice(1, -1).map((c) => c.trim()));
  // Each path, one request at a time and at 2 connections: the API directly, through the BFF, through the BFF with DPoP.
  assert.deepEqual(rows.map(([path, connections]) => `${connections} ${path!.split(',')[0]}`), [
    '1 GET /notes at the API', '1 GET /bff/api/notes through tollgate/bff', '1 the same',
    '2 GET /notes at the API', '2 GET /bff/api/notes through tollgate/bff', '2 the same',
  ], stdout);
  for (const [path, , rps] of rows) assert.match(rps!, /^[1-9]\d*$/, `requests went through: ${path}`);
});

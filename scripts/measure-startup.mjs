// Measures start-up as an operator sees it: spawns the start command with a
// fresh DATA_DIR and KEYS_DIR (first start), then again on the same
// directories (second start), and reports for each: wall time from spawn to
// the "tollgate listening" line, the server's own startup_ms and rss_mb,
// its peak RSS (VmHWM) and its RSS a few seconds later (steady state).
//
//   node scripts/measure-startup.mjs [--runs 3] [--database-url postgresql://…] [--settle 5] [-- command…]
//
// The command defaults to `npm start --silent`. Linux only (reads /proc).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    'database-url': { type: 'string' },
    settle: { type: 'string', default: '5' },
  },
});
const command = positionals.length ? positionals : ['npm', 'start', '--silent'];
const runs = Number(values.runs);
const settleMs = Number(values.settle) * 1000;

function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch { /* gone */ }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i += 1) all.push(...(children.get(all[i]) ?? []));
  return all;
}

/** CPU time (user + system) in ms; clock ticks are 1/100 s on Linux. */
function cpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: kb("VmRSS") * 1024 / 1e6, peak: kb("VmHWM") * 1024 / 1e6 };
  } catch {
    return { rss: 0, peak: 0 };
  }
}

/** The process tree's largest member is the server (npm and sh are small). */
function serverMemory(root) {
  return descendants(root).map((pid) => ({ pid, ...memory(pid) })).reduce((a, b) => (b.rss > a.rss ? b : a), { pid: 0, rss: 0, peak: 0 });
}

function startOnce(env) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let peak = 0;
    const poll = setInterval(() => { peak = Math.max(peak, serverMemory(child.pid).peak); }, 50);
    const onData = async (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"tollgate listening"'));
      if (!line || child.listening) return;
      child.listening = true;
      const wall = performance.now() - started;
      // CPU of the server process only: the time it needed, whatever else the machine was doing.
      const cpuMs = cpu(serverMemory(child.pid).pid);
      const logged = JSON.parse(line);
      await new Promise((r) => setTimeout(r, settleMs));
      const mem = serverMemory(child.pid);
      clearInterval(poll);
      peak = Math.max(peak, mem.peak);
      child.once('close', () => resolve({ wall: Math.round(wall), cpu_ms: cpuMs, startup_ms: logged.startup_ms, rss_mb: logged.rss_mb, peak_mb: Math.round(peak), steady_mb: Math.round(mem.rss) }));
      process.kill(-child.pid, 'SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => { if (!child.listening) { clearInterval(poll); reject(new Error(`exited ${code}:\n${out}`)); } });
  });
}

const rows = [];
for (let i = 0; i < runs; i += 1) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-startup-'));
  const env = { ...process.env, PORT: '0', LOG_LEVEL: 'info', DATA_DIR: path.join(dir, 'data'), KEYS_DIR: path.join(dir, 'keys') };
  delete env.NODE_ENV;
  if (values['database-url']) env.DATABASE_URL = values['database-url'];
  else delete env.DATABASE_URL;
  try {
    rows.push({ run: i + 1, start: 'first', ...(await startOnce(env)) });
    rows.push({ run: i + 1, start: 'second', ...(await startOnce(env)) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.table(rows);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const which of ['first', 'second']) {
  const r = rows.filter((x) => x.start === which);
  console.log(`${which}: median wall ${median(r.map((x) => x.wall))} ms, cpu ${median(r.map((x) => x.cpu_ms))} ms, startup_ms ${median(r.map((x) => x.startup_ms))}, rss at listen ${median(r.map((x) => x.rss_mb))} MB, peak ${median(r.map((x) => x.peak_mb))} MB, steady ${median(r.map((x) => x.steady_mb))} MB`);
}

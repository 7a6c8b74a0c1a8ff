// The Dockerfile, replayed without a Docker engine (none runs on our
// machines): its stages are parsed, and each one is rebuilt in a directory of
// its own from the same files and by the same commands: COPY from the
// committed files of this checkout less .dockerignore (or from an earlier
// stage), RUN inside a chroot of that directory. The base image is stood in
// for by this machine's own /usr and /etc, read-only, plus the `node` user
// (uid 1000) that the official node images add; mount and PID namespaces keep
// every mount private and make the CMD's process PID 1, as in a container.
// Then the runtime stage's CMD runs as its USER and answers /healthz,
// discovery and its own HEALTHCHECK. A file the image forgets, or a step that
// breaks, fails here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCallback, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { DockerfileParser, type Copy, type Env, type From, type Instruction } from 'dockerfile-ast';
import { freePort } from '../support/ports.ts';
import { ROOT } from '../support/processes.ts';

const execFile = promisify(execFileCallback);
// A CommonJS module whose typings declare an ES default export: required, it is the function they describe.
const ignore = createRequire(import.meta.url)('@balena/dockerignore') as typeof import('@balena/dockerignore').default;

/** The replay needs mount and PID namespaces and chroot: root, as CI and our machines run. */
const canReplay = process.getuid?.() === 0 && existsSync('/usr/bin/unshare') && existsSync('/usr/sbin/chroot');

/** What the official node images define, beyond the operating system. */
const IMAGE_USER = { name: 'node', uid: 1000, gid: 1000, home: '/home/node' };
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Stage {
  name?: string;
  /** The stage's root file system: everything its COPY and RUN steps wrote. */
  root: string;
  workdir: string;
  user: string;
  env: Record<string, string>;
  cmd?: string[];
  healthcheck?: string[];
  volumes: string[];
}

/** Exec form (a JSON array) or shell form, as Docker reads RUN, CMD and HEALTHCHECK CMD. */
function commandOf(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as string[];
  return ['/bin/sh', '-c', trimmed];
}

/**
 * Enters a stage's root: this machine's /usr and /etc read-only (with the
 * image's passwd and group), /dev, a fresh /proc (mounted by unshare), the
 * host's npm cache as the build's cache, then chroot as the user and into
 * the working directory. Every mount lives and dies with the namespace.
 */
const ENTER = `set -e
R="$1"; USERSPEC="$2"; WORKDIR="$3"; IMAGE_ETC="$4"; NPM_CACHE="$5"; shift 5
for d in bin sbin lib lib64 usr etc; do
  if [ -L "/$d" ]; then [ -L "$R/$d" ] || ln -s "$(readlink "/$d")" "$R/$d"
  elif [ -d "/$d" ]; then mkdir -p "$R/$d"; mount --rbind "/$d" "$R/$d"; mount -o remount,bind,ro "$R/$d"
  fi
done
mount --bind "$IMAGE_ETC/passwd" "$R/etc/passwd"
mount --bind "$IMAGE_ETC/group" "$R/etc/group"
mkdir -p "$R/dev" "$R/tmp" "$R/root"; chmod 1777 "$R/tmp"
mount --rbind /dev "$R/dev"
if [ -n "$NPM_CACHE" ]; then mkdir -p "$R/root/.npm"; mount --bind "$NPM_CACHE" "$R/root/.npm"; fi
exec chroot --userspec="$USERSPEC" "$R" /usr/bin/env -C "$WORKDIR" "$@"
`;

class Replay {
  readonly stages: Stage[] = [];
  readonly log: string[] = [];
  private readonly args: Record<string, string> = {};

  constructor(private readonly work: string, private readonly context: string, private readonly npmCache: string) {}

  private get imageEtc() {
    return path.join(this.work, 'image-etc');
  }

  async prepare(): Promise<void> {
    await mkdir(this.imageEtc, { recursive: true });
    const drop = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith(`${IMAGE_USER.name}:`));
    await writeFile(path.join(this.imageEtc, 'passwd'), [...drop('/etc/passwd'), `${IMAGE_USER.name}:x:${IMAGE_USER.uid}:${IMAGE_USER.gid}::${IMAGE_USER.home}:/bin/sh`, ''].join('\n'));
    await writeFile(path.join(this.imageEtc, 'group'), [...drop('/etc/group'), `${IMAGE_USER.name}:x:${IMAGE_USER.gid}:`, ''].join('\n'));
  }

  /** uid:gid for chroot --userspec, from the image's passwd. */
  userspec(user: string): string {
    if (/^\d+(:\d+)?$/.test(user)) return user.includes(':') ? user : `${user}:${user}`;
    const line = readFileSync(path.join(this.imageEtc, 'passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
    assert.ok(line, `USER ${user}: no such user in the image`);
    const [, , uid, gid] = line.split(':');
    return `${uid}:${gid}`;
  }

  /** Runs a command inside a stage, as `user`; resolves with its exit code and output. */
  spawnIn(stage: Stage, command: string[], options: { user?: string; env?: Record<string, string>; npmCache?: boolean } = {}): ChildProcess {
    const user = options.user ?? stage.user;
    const home = user === 'root' || user === '0' ? '/root' : IMAGE_USER.home;
    const env = { PATH: IMAGE_PATH, HOME: home, ...stage.env, ...options.env };
    return spawn('unshare', [
      '--mount', '--propagation', 'private', '--pid', '--fork', `--mount-proc=${path.join(stage.root, 'proc')}`,
      '/bin/sh', '-c', ENTER, 'enter', stage.root, this.userspec(user), stage.workdir, this.imageEtc, options.npmCache ? this.npmCache : '',
      ...command,
    ], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async runIn(stage: Stage, command: string[], options: Parameters<Replay['spawnIn']>[2] = {}): Promise<{ code: number | null; output: string }> {
    const child = this.spawnIn(stage, command, options);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d; });
    child.stderr!.on('data', (d: Buffer) => { output += d; });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, output };
  }

  private expand(text: string, stage?: Stage): string {
    return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => stage?.env[(a ?? b)!] ?? this.args[(a ?? b)!] ?? '');
  }

  private inRoot(stage: Stage, target: string): string {
    const absolute = path.posix.isAbsolute(target) ? target : path.posix.join(stage.workdir, target);
    return path.join(stage.root, absolute);
  }

  /** COPY [--from=stage] src... dest: a directory's contents go into dest; with several sources, or a trailing /, dest is a directory. */
  private async copy(stage: Stage, instruction: Copy): Promise<void> {
    const from = instruction.getFromFlag()?.getValue();
    const args = instruction.getArguments().map((a) => this.expand(a.getValue(), stage));
    const dest = args.pop()!;
    const sources = args.map((src) => {
      assert.ok(!/[*?[]/.test(src), `COPY ${src}: the replay does not expand wildcards`);
      if (!from) return path.join(this.context, path.posix.normalize(src));
      const origin = this.stages.find((s) => s.name === from) ?? this.stages[Number(from)];
      assert.ok(origin, `COPY --from=${from}: no such stage`);
      return this.inRoot(origin, src);
    });
    const intoDirectory = dest.endsWith('/') || sources.length > 1;
    for (const source of sources) {
      assert.ok(existsSync(source), `COPY ${path.relative(this.context, source)}: not in the build context (committed files less .dockerignore) or the stage`);
      const isDirectory = (await stat(source)).isDirectory();
      const target = this.inRoot(stage, isDirectory || !intoDirectory ? dest : path.posix.join(dest, path.basename(source)));
      await mkdir(isDirectory ? target : path.dirname(target), { recursive: true });
      await cp(source, target, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
  }

  async build(dockerfile: string): Promise<void> {
    const parsed = DockerfileParser.parse(dockerfile);
    for (const arg of parsed.getInitialARGs()) {
      const property = arg.getProperty();
      if (property?.getValue() !== undefined) this.args[property.getName()] = property.getValue()!;
    }
    let stage: Stage | undefined;
    for (const instruction of parsed.getInstructions() as Instruction[]) {
      const keyword = instruction.getKeyword();
      const content = instruction.getArgumentsContent() ?? '';
      if (keyword === 'ARG') continue; // Global ARGs were read above; a stage's ARG defaults are not used here.
      if (keyword === 'FROM') {
        const image = this.expand((instruction as From).getImage() ?? '');
        assert.match(image, /^node:/, `FROM ${image}: the replay stands in for the node images only`);
        const root = path.join(this.work, `stage-${this.stages.length}`);
        await mkdir(path.join(root, 'proc'), { recursive: true });
        // The container's "/": every user must be able to enter it.
        await chmod(root, 0o755);
        stage = { name: (instruction as From).getBuildStage() ?? undefined, root, workdir: '/', user: 'root', env: {}, volumes: [] };
        this.stages.push(stage);
        this.log.push(`FROM ${image}${stage.name ? ` AS ${stage.name}` : ''}`);
        continue;
      }
      assert.ok(stage, `${keyword} before FROM`);
      const started = performance.now();
      switch (keyword) {
        case 'WORKDIR':
          stage.workdir = path.posix.resolve(stage.workdir, this.expand(content, stage));
          await mkdir(path.join(stage.root, stage.workdir), { recursive: true });
          break;
        case 'ENV':
          for (const p of (instruction as Env).getProperties()) stage.env[p.getName()] = this.expand(p.getValue() ?? '', stage);
          break;
        case 'COPY':
          await this.copy(stage, instruction as Copy);
          break;
        case 'RUN': {
          const { code, output } = await this.runIn(stage, commandOf(content), { npmCache: true });
          assert.equal(code, 0, `RUN ${content} failed (exit ${code}):\n${output.slice(-4000)}`);
          break;
        }
        case 'USER':
          stage.user = this.expand(content, stage);
          break;
        case 'VOLUME':
          stage.volumes = content.trim().startsWith('[') ? JSON.parse(content) as string[] : content.trim().split(/\s+/);
          break;
        case 'CMD':
          stage.cmd = commandOf(content);
          break;
        case 'HEALTHCHECK': {
          const at = content.search(/\bCMD\b/);
          stage.healthcheck = at < 0 ? undefined : commandOf(content.slice(at + 3));
          break;
        }
        case 'EXPOSE':
          break;
        default:
          assert.fail(`${keyword}: the replay does not know this instruction; teach it (test/flows/container.test.ts)`);
      }
      this.log.push(`${keyword} ${content.replace(/\s+/g, ' ').slice(0, 80)} (${Math.round(performance.now() - started)} ms)`);
    }
  }
}

/** The build context: the committed files, less what .dockerignore leaves out (as `docker build .` sends it). */
async function buildContext(target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  const { stdout } = await execFile('git', ['ls-tree', '-r', '-z', '--name-only', 'HEAD'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  const files = stdout.split('\0').filter(Boolean);
  const dockerignore = await readFile(path.join(ROOT, '.dockerignore'), 'utf8').catch(() => '');
  const kept = ignore().add(dockerignore.split('\n')).filter(files);
  // From the commit itself, not the working tree: an uncommitted file is not in the image either.
  const archive = spawn('git', ['archive', '--format=tar', 'HEAD', '--', ...kept], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const untar = spawn('tar', ['-x', '-C', target], { stdio: ['pipe', 'inherit', 'inherit'] });
  archive.stdout.pipe(untar.stdin);
  const [a, u] = await Promise.all([new Promise((r) => archive.on('close', r)), new Promise((r) => untar.on('close', r))]);
  assert.deepEqual([a, u], [0, 0], 'git archive | tar failed');
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pid of a process's first child (unshare --fork's child is the container's PID 1). */
function childPid(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

async function duBytes(dir: string): Promise<number> {
  const { stdout } = await execFile('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]);
}

describe('the Dockerfile, replayed stage by stage', { skip: canReplay ? false : 'needs root, unshare and chroot (as CI has)' }, () => {
  let work: string;
  let replay: Replay;
  let runtime: Stage;
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'tollgate-container-'));
    const context = path.join(work, 'context');
    await buildContext(context);
    const { stdout: npmCache } = await execFile('npm', ['config', 'get', 'cache']);
    replay = new Replay(work, context, npmCache.trim());
    await replay.prepare();
    await replay.build(await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
    runtime = replay.stages.at(-1)!;
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('the runtime stage holds compiled JavaScript and production dependencies only', async (t) => {
    t.diagnostic(replay.log.join('\n'));
    const app = path.join(runtime.root, 'app');
    const modules = path.join(app, 'node_modules');
    assert.ok(existsSync(path.join(app, 'dist/server/main.js')));
    assert.ok(existsSync(path.join(app, 'dist/embedded-database/template.json')), 'the embedded database template');
    assert.ok(existsSync(path.join(app, 'views')) && existsSync(path.join(app, 'prisma/migrations')));
    assert.ok(!existsSync(path.join(app, 'server')), 'no TypeScript sources');
    assert.ok(!existsSync(path.join(app, 'dist/server/generated')), 'no generated Prisma client');
    for (const dev of ['typescript', 'tsx', 'prisma', '@prisma', 'pglite-prisma-adapter', 'playwright-core']) {
      assert.ok(!existsSync(path.join(modules, dev)), `${dev} is in the image's node_modules`);
    }
    for (const runtimeDependency of ['oidc-provider', 'pg', '@electric-sql/pglite', 'pino', 'koa']) {
      assert.ok(existsSync(path.join(modules, runtimeDependency)), `${runtimeDependency} is missing`);
    }
    t.diagnostic(`image node_modules: ${(await duBytes(modules) / 1e6).toFixed(0)} MB`);
    // Only the volumes are the unprivileged user's to write.
    for (const volume of runtime.volumes) {
      const { uid, mode } = await stat(path.join(runtime.root, volume));
      assert.deepEqual([uid, mode & 0o777], [IMAGE_USER.uid, 0o700], volume);
    }
    assert.equal((await stat(path.join(app, 'dist'))).uid, 0);
  });

  test('its CMD alone starts the server as the unprivileged user: migrations, /healthz, discovery, HEALTHCHECK; SIGTERM stops it with exit 0', async () => {
    assert.deepEqual(runtime.cmd, ['node', 'dist/server/main.js'], 'the server alone, no migrate step before it');
    assert.ok(runtime.healthcheck, 'a HEALTHCHECK');
    assert.notEqual(replay.userspec(runtime.user).split(':')[0], '0', 'USER is not root');
    const port = await freePort();
    // As `docker run -e …` would give them.
    const env = { PORT: String(port), ISSUER: 'https://id.example.test', COOKIE_SECRETS: 'container-test-cookie-secret-of-at-least-32-chars' };
    const child = replay.spawnIn(runtime, runtime.cmd!, { env });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d; });
    child.stderr!.on('data', (d: Buffer) => { output += d; });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => output.includes('"tollgate listening"') || child.exitCode !== null, 120_000, () => output);
      assert.match(output, /"tollgate listening"/, output);
      // The server applied the migrations itself.
      assert.match(output, /"msg":"database migrated"/);

      const server = childPid(child.pid!);
      assert.ok(server, 'the container has a PID 1');
      const uid = readFileSync(`/proc/${server}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1];
      assert.equal(Number(uid), IMAGE_USER.uid, 'PID 1 runs as the image USER');
      assert.equal((await stat(path.join(runtime.root, 'app/data/pglite.lock'))).uid, IMAGE_USER.uid);

      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      const discovery = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
      assert.equal((await discovery.json() as { issuer: string }).issuer, env.ISSUER);

      const healthcheck = await replay.runIn(runtime, runtime.healthcheck!, { env });
      assert.equal(healthcheck.code, 0, `HEALTHCHECK: ${healthcheck.output}`);

      // `docker stop`: SIGTERM to PID 1, which has no default handler for it.
      process.kill(server, 'SIGTERM');
      const code = await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000, 'still running'))]);
      assert.equal(code, 0, output);
      assert.ok(!existsSync(path.join(runtime.root, 'app/data/pglite.lock')), 'the embedded database lock is released');
      assert.match(output, /"msg":"stopped"/);

      // Stopped, the HEALTHCHECK fails.
      assert.notEqual((await replay.runIn(runtime, runtime.healthcheck!, { env })).code, 0);
    } finally {
      if (child.exitCode === null) {
        const pid1 = childPid(child.pid!);
        if (pid1) process.kill(pid1, 'SIGKILL');
        await exited;
      }
    }
  });
});

describe('a production install in a checkout', { skip: canReplay ? false : 'shares the replay\'s prerequisites' }, () => {
  let checkout: string;
  before(async () => {
    checkout = await mkdtemp(path.join(tmpdir(), 'tollgate-omit-dev-'));
    await buildContext(checkout);
  });
  after(() => rm(checkout, { recursive: true, force: true }));

  test('`npm ci --omit=dev` with its lifecycle scripts (postinstall, prepare) succeeds without Prisma or TypeScript', async () => {
    const result = await execFile('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: checkout, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024,
    }).then(({ stderr }) => ({ code: 0, stderr }), (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }));
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!existsSync(path.join(checkout, 'node_modules/typescript')));
    assert.ok(!existsSync(path.join(checkout, 'node_modules/prisma')));
    // Nothing was built, and the install says why rather than failing.
    assert.match(result.stderr, /typescript is not installed/);
    assert.deepEqual(await readdir(path.join(checkout, 'node_modules/.bin')).then((bins) => bins.filter((b) => b === 'tsc' || b === 'prisma')), []);
  });
});

// Theming without a fork (THEME_DIR, server/views/theme.ts): the example
// theme in examples/theme/ seen in real Chromium, in English and Korean (its
// logo, stylesheet, strings and login template; what it leaves out comes from
// the built-in pages), a theme's inline script kept from running by the CSP,
// and the themes the server refuses to start with. Screenshots go to
// test-artifacts/screenshots/theme-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';
import { cleanEnv, requireFreshBuild, ROOT } from '../support/processes.ts';
import { CONTENT_SECURITY_POLICY } from '../../server/middleware/koa-security-headers.ts';
import { BUILT_IN_CATALOGUES } from '../../server/i18n.ts';
import { createViews } from '../../server/views/views.ts';
import { ConfigError } from '../../server/errors.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const EXAMPLE_THEME = path.join(ROOT, 'examples/theme');
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const ACME_GREEN = 'rgb(11, 122, 90)'; // --accent in examples/theme/assets/theme.css
/** In the page: the logo image loaded and has a size (a broken image has none). */
const LOGO_SHOWN = "(() => { const img = document.querySelector('img.logo'); return !!img && img.complete && img.naturalWidth > 0; })()";

/** A login page on `t`: an authorization request for the client registered below, as an app would send it. */
function authorizationUrl(t: TestTollgate): string {
  const url = new URL(`${t.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: 'photo-prints', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  }).toString();
  return url.href;
}

async function registerClient(t: TestTollgate): Promise<void> {
  await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: 'photo-prints-client-secret-0123456789abcdef', redirectUris: [REDIRECT_URI], scope: 'openid' });
}

/** A theme directory of `files` (relative path → content), removed by the caller. */
async function themeOf(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-theme-'));
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return dir;
}

describe('the example theme in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    t = await startTestTollgate({ env: { THEME_DIR: EXAMPLE_THEME } });
    await registerClient(t);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  const expected = {
    // login.failed: the theme overrides it in English only, so Korean keeps the built-in message.
    en: { locale: 'en-US', title: 'Sign in to Acme', tagline: 'One account for every Acme app.', help: 'Help', failed: 'That Acme e-mail or password is not right.' },
    ko: { locale: 'ko-KR', title: 'Acme 로그인', tagline: '모든 Acme 앱을 위한 하나의 계정.', help: '도움말', failed: BUILT_IN_CATALOGUES.ko['login.failed'] },
  } as const;
  for (const [lang, want] of Object.entries(expected) as Array<[keyof typeof expected, (typeof expected)[keyof typeof expected]]>) {
    test(`sign-in page (${lang}): the theme's logo, stylesheet, strings and template; the strings it leaves out are the built-in ones`, async () => {
      const browser = await launchBrowser({ locale: want.locale });
      try {
        const page = await browser.context.newPage();
        const refused: string[] = [];
        page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) refused.push(m.text()); });
        // Settled either way: if the page is wrong, its own assertion below should be the one reported.
        const logo = page.waitForResponse((r) => new URL(r.url()).pathname === '/assets/logo.svg', { timeout: 10_000 }).catch((err: Error) => err);
        await page.goto(authorizationUrl(t));
        await page.waitForSelector('input[name="password"]');
        assert.equal(await page.getAttribute('html', 'lang'), lang);

        // Strings: the theme's login.title and brand; the password label is not in the theme, so it is the built-in one.
        assert.equal(await page.textContent('h1'), want.title);
        assert.equal(await page.title(), `${want.title} · Acme`);
        assert.equal(await page.textContent('label[for="password"]'), BUILT_IN_CATALOGUES[lang]['login.password']);
        assert.equal(await page.textContent('button[type="submit"]'), BUILT_IN_CATALOGUES[lang]['login.submit']);

        // The template: the theme's login.eta (a tagline, and a partial of its own).
        assert.equal(await page.textContent('.tagline'), want.tagline);
        assert.equal(await page.textContent('a[href="https://acme.example/help"]'), want.help);

        // The logo slot, filled from the theme's assets/logo.svg and served as SVG.
        const response = await logo;
        assert.ok(!(response instanceof Error), 'the logo was requested');
        assert.equal(response.status(), 200);
        assert.equal(response.headers()['content-type'], 'image/svg+xml');
        assert.equal(await page.getAttribute('img.logo', 'alt'), 'Acme');
        assert.ok(await page.evaluate(LOGO_SHOWN), 'the logo is shown');

        // The stylesheet: theme.css, linked after the built-in one, sets the accent colour.
        assert.equal(await page.evaluate('getComputedStyle(document.querySelector(\'button[type="submit"]\')).backgroundColor'), ACME_GREEN);
        assert.deepEqual(refused, [], 'nothing the theme uses is refused by the CSP');
        await page.screenshot({ path: `${SHOTS}theme-login-${lang}.png`, fullPage: true });

        // A message the route puts on the page comes from the theme's strings too.
        await signInOnPage(page, 'nobody@example.test', 'not the password');
        assert.equal(await page.textContent('[role="alert"]'), want.failed);
        assert.equal(await page.textContent('.tagline'), want.tagline);

        // A page the theme does not replace: the built-in error template, in the theme's clothes.
        await page.goto(`${t.issuer}/auth?client_id=unknown-app&response_type=code&scope=openid&redirect_uri=https://x.example/cb`);
        assert.equal(await page.textContent('h1'), BUILT_IN_CATALOGUES[lang]['error.title']);
        assert.equal(await page.title(), `${BUILT_IN_CATALOGUES[lang]['error.title']} · Acme`);
        assert.ok(await page.evaluate(LOGO_SHOWN));
        await page.screenshot({ path: `${SHOTS}theme-error-${lang}.png`, fullPage: true });
      } finally {
        await browser.close();
      }
    });
  }

  test('the theme\'s assets: their content type, the CSP, revalidation, versioned URLs; nothing else is served', async () => {
    const login = await fetch(authorizationUrl(t), { redirect: 'follow' });
    const html = await login.text();
    const logoUrl = /<img class="logo" src="([^"]+)"/.exec(html)?.[1];
    const cssUrl = /<link rel="stylesheet" href="(\/assets\/theme\.css[^"]*)"/.exec(html)?.[1];
    assert.match(logoUrl ?? '', /^\/assets\/logo\.svg\?v=[\w-]+$/, 'a changed logo gets a new URL: no stale copy after a restart');
    assert.match(cssUrl ?? '', /^\/assets\/theme\.css\?v=[\w-]+$/);

    const logo = await fetch(`${t.issuer}${logoUrl}`);
    assert.equal(logo.status, 200);
    assert.equal(logo.headers.get('content-type'), 'image/svg+xml');
    assert.equal(logo.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(logo.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(Buffer.from(await logo.arrayBuffer()), await readFile(path.join(EXAMPLE_THEME, 'assets/logo.svg')));
    // node:http, not fetch: fetch turns a conditional request into a no-cache one.
    const again = await new Promise<number | undefined>((resolve, reject) => {
      get(`${t.issuer}/assets/logo.svg`, { headers: { 'if-none-match': logo.headers.get('etag')! } }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
    });
    assert.equal(again, 304);

    const css = await fetch(`${t.issuer}${cssUrl}`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal(await css.text(), await readFile(path.join(EXAMPLE_THEME, 'assets/theme.css'), 'utf8'));
    // The built-in stylesheet is still there, under its own name.
    assert.equal(await (await fetch(`${t.issuer}/assets/tollgate.css`)).text(), await readFile(path.join(ROOT, 'views/assets/tollgate.css'), 'utf8'));
    for (const missing of ['/assets/login.eta', '/assets/../login.eta', '/assets/locales/en.json', '/assets/logo.png']) {
      assert.equal((await fetch(`${t.issuer}${missing}`)).status, 404, missing);
    }
  });
});

describe('a theme cannot weaken the CSP', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let theme: string;
  before(async () => {
    const builtInLogin = await readFile(path.join(ROOT, 'views/login.eta'), 'utf8');
    theme = await themeOf({
      'login.eta': `${builtInLogin}
<meta http-equiv="Content-Security-Policy" content="script-src 'unsafe-inline'">
<script id="theme-script">document.documentElement.dataset.ran = 'inline script';</script>
<img id="theme-img" src="/no-such-image.png" onerror="document.documentElement.dataset.ran = 'event handler'">
`,
    });
    t = await startTestTollgate({ env: { THEME_DIR: theme } });
    await registerClient(t);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    if (theme) await rm(theme, { recursive: true, force: true });
  });

  test('a theme template\'s inline <script> and event handler are rendered but never run', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      const refused: string[] = [];
      page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) refused.push(m.text()); });
      const response = await page.goto(authorizationUrl(t));
      await page.waitForSelector('input[name="password"]');
      await page.waitForLoadState('load');
      assert.equal(response?.headers()['content-security-policy'], CONTENT_SECURITY_POLICY, 'the policy is ours, whatever the theme');
      // The theme's template is the one served: its script is in the page…
      assert.ok(await page.$('#theme-script'), 'the theme template was rendered');
      assert.ok(await page.$('#theme-img'));
      // …and nothing of it ran.
      assert.equal(await page.getAttribute('html', 'data-ran'), null);
      assert.ok(refused.some((m) => /inline script/.test(m)), `the browser reports the refusal: ${refused.join(' | ')}`);
      await page.screenshot({ path: `${SHOTS}theme-inline-script.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});

describe('themes refused at start', () => {
  /** `npm start` as an operator runs it, with THEME_DIR set; the server must refuse before listening. */
  async function startWith(themeDir: string) {
    requireFreshBuild();
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-theme-start-'));
    try {
      const data = path.join(dir, 'data');
      const r = spawnSync('npm', ['start', '--silent'], {
        cwd: ROOT, encoding: 'utf8', timeout: 60_000,
        env: cleanEnv({ PORT: '0', DATA_DIR: data, KEYS_DIR: path.join(dir, 'keys'), THEME_DIR: themeDir }),
      });
      // Node 20 draws oidc-provider's runtime notice as it loads, before configuration is read: not ours to count.
      const stderr = r.stderr.split('\n').filter((line) => !line.startsWith('oidc-provider WARNING: Unsupported runtime')).join('\n');
      return { status: r.status, stdout: r.stdout, stderr, databaseCreated: existsSync(data) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('a THEME_DIR that does not exist: one line naming it, exit 1, no database work', async () => {
    const missing = path.join(tmpdir(), 'tollgate-no-such-theme');
    const r = await startWith(missing);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, `tollgate: invalid configuration: THEME_DIR: must be an existing directory (${missing} is not one)\n`);
    assert.equal(r.databaseCreated, false);
  });

  test('a theme template that throws: one line naming its file and the error, exit 1, no database work', async () => {
    const theme = await themeOf({ 'partials/footer.eta': '<p>\n<%= it.company.name %></p>\n', 'error.eta': "<% layout('./layout', it) %>\n<%~ include('./partials/footer', it) %>\n" });
    try {
      const r = await startWith(theme);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^tollgate: invalid configuration: THEME_DIR: ${path.join(theme, 'partials/footer.eta')}: line 2: Cannot read properties of undefined \\(reading 'name'\\)`));
      assert.doesNotMatch(r.stderr, /at .*\.(ts|js):\d+/, 'no stack trace');
      assert.equal(r.databaseCreated, false);
    } finally {
      await rm(theme, { recursive: true, force: true });
    }
  });

  test('what a theme cannot hold is refused with one line naming the file', async () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ 'login.eta': '<h1><%~ it.login %></h1>' }, 'login.eta', /raw output <%~ it\.login %> \(line 1\) would skip HTML escaping/],
      [{ 'login.eta': '<h1><%= it.t("login.title") </h1>' }, 'login.eta', /unclosed tag at line 1/],
      [{ 'logni.eta': '<h1>x</h1>' }, 'logni.eta', /not a template Tollgate renders/],
      [{ 'assets/app.js': 'alert(1)' }, 'assets/app.js', /not a served asset type/],
      [{ 'assets/page.html': '<p>x</p>' }, 'assets/page.html', /not a served asset type/],
      [{ 'locales/en.json': '{"login.titel": "Sign in"}' }, 'locales/en.json', /"login\.titel" is not a built-in key/],
      [{ 'locales/ko.json': '{"login.title": 1}' }, 'locales/ko.json', /"login\.title" must be a string/],
      [{ 'locales/fr.json': '{}' }, 'locales/fr.json', /not a locale Tollgate speaks/],
    ];
    for (const [files, file, problem] of cases) {
      const theme = await themeOf(files);
      try {
        assert.throws(() => createViews({ assetsPath: '/assets', themeDir: theme }), (err: Error) => {
          assert.ok(err instanceof ConfigError, `${file}: ${err.message}`);
          assert.ok(err.message.startsWith(`THEME_DIR: ${path.join(theme, file)}: `), err.message);
          assert.match(err.message, problem);
          assert.ok(!err.message.includes('\n'), 'one line');
          return true;
        });
      } finally {
        await rm(theme, { recursive: true, force: true });
      }
    }
  });

  test('the example theme is accepted, and without a theme the logo slot stays empty', () => {
    const themed = createViews({ assetsPath: '/assets', themeDir: EXAMPLE_THEME });
    assert.match(themed.render('consent', 'en', { clientName: 'A', scopes: [], csrf: 'c' }), /<img class="logo" src="\/assets\/logo\.svg\?v=/);
    const plain = createViews({ assetsPath: '/assets' }).render('consent', 'en', { clientName: 'A', scopes: [], csrf: 'c' });
    assert.doesNotMatch(plain, /<img|theme\.css/);
    assert.match(plain, /<title>Allow access · Tollgate<\/title>/);
  });
});

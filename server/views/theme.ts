// The files behind the hosted pages: the built-in ones in views/, and a
// theme's (THEME_DIR) over them, file by file for templates and assets and
// key by key for strings. Everything is read once, here, at start: a theme
// changes with a restart. What a theme may hold (docs/theming.md):
//   <name>.eta          replaces one of PAGE_TEMPLATES (layout included)
//   partials/**/*.eta   templates of its own, included as './partials/…'
//   assets/**           stylesheets and images, served under <issuer path>/assets;
//                       assets/theme.css is linked after the built-in stylesheet,
//                       assets/logo.{svg,png,webp,jpg} fills the layout's logo slot
//   locales/<en|ko>.json  strings over the built-in ones; keys of its own start with `theme.`
// Anything else that would silently do nothing (a misspelt template, a
// locale we do not speak, an unknown key) or could run script in our origin
// (.js, .html) is refused with one line naming the file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import { BUILT_IN_CATALOGUES, LOCALES, withOverrides, type Catalogue, type Catalogues, type Locale } from '../i18n.ts';
import { projectPath } from '../paths.ts';

/** The templates Tollgate renders by name; a theme may replace any of them. */
export const PAGE_TEMPLATES = ['layout', 'login', 'signup', 'consent', 'account', 'error', 'logout', 'logout-done', 'notice', 'forgot-password', 'reset-password', 'verify-email', 'account-confirm', 'federated-link', 'mfa-challenge', 'mfa-enrol', 'mfa-totp-setup', 'mfa-recovery-codes', 'mfa-passkey-add'] as const;

/**
 * Served types. No script or HTML: under `script-src 'self'` a script served
 * from our origin would run, and an HTML page there could phish. No fonts:
 * the CSP has no font-src (default-src 'none').
 */
const ASSET_TYPES: Readonly<Record<string, string>> = {
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
};

/**
 * Tollgate's own scripts (views/assets/*.js, e.g. webauthn.js for passkeys):
 * served from the built-in assets only, never from a theme, for the reason
 * above.
 */
const BUILT_IN_SCRIPT_TYPE = 'text/javascript; charset=utf-8';

/** The logo slot takes the first of these the theme provides. */
const LOGO_FILES = ['logo.svg', 'logo.png', 'logo.webp', 'logo.jpg'] as const;
export const THEME_STYLESHEET = 'theme.css';

export interface TemplateSource {
  /** What eta includes it as: `./login`, `./partials/footer`. */
  readonly name: string;
  /** The file it came from, for error messages. */
  readonly file: string;
  readonly source: string;
}

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
  /** From the theme: its URLs carry `?v=<hash>`, so a restart with a changed file is never hidden by a browser's cache. */
  readonly version?: string;
}

export interface ThemeFiles {
  readonly templates: readonly TemplateSource[];
  /** By path below the assets URL: `/tollgate.css`, `/logo.svg`. */
  readonly assets: ReadonlyMap<string, Asset>;
  readonly catalogues: Catalogues;
  /** Below the assets URL, when the theme has one. */
  readonly logo?: string;
  readonly themeStylesheet?: string;
}

const VIEWS_DIR = projectPath('views');

/** The built-in files, with `themeDir`'s over them. Throws ConfigError (one line, naming the file). */
export function loadThemeFiles(themeDir?: string): ThemeFiles {
  const templates = new Map<string, TemplateSource>();
  for (const name of PAGE_TEMPLATES) templates.set(`./${name}`, templateFrom(VIEWS_DIR, `${name}.eta`));
  const assets = new Map<string, Asset>();
  for (const file of filesBelow(path.join(VIEWS_DIR, 'assets'))) assets.set(`/${file}`, assetFrom(path.join(VIEWS_DIR, 'assets'), file, false));
  if (!themeDir) return { templates: [...templates.values()], assets, catalogues: BUILT_IN_CATALOGUES };

  for (const entry of readdirSync(themeDir, { withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.eta')) continue;
    const name = entry.name.slice(0, -'.eta'.length);
    if (!(PAGE_TEMPLATES as readonly string[]).includes(name)) {
      refuse(themeDir, entry.name, `not a template Tollgate renders (${PAGE_TEMPLATES.join(', ')}); templates of your own go in partials/`);
    }
    templates.set(`./${name}`, templateFrom(themeDir, entry.name));
  }
  for (const file of filesBelow(path.join(themeDir, 'partials'))) {
    if (!file.endsWith('.eta')) refuse(themeDir, `partials/${file}`, 'only .eta templates belong in partials/');
    templates.set(`./partials/${file.slice(0, -'.eta'.length)}`, templateFrom(themeDir, `partials/${file}`));
  }
  for (const file of filesBelow(path.join(themeDir, 'assets'))) assets.set(`/${file}`, assetFrom(path.join(themeDir, 'assets'), file, true));

  const inTheme = (file: string) => assets.get(`/${file}`)?.version !== undefined;
  return {
    templates: [...templates.values()],
    assets,
    catalogues: withOverrides(BUILT_IN_CATALOGUES, themeCatalogues(themeDir)),
    logo: LOGO_FILES.find(inTheme),
    themeStylesheet: inTheme(THEME_STYLESHEET) ? THEME_STYLESHEET : undefined,
  };
}

function refuse(themeDir: string, file: string, problem: string): never {
  throw new ConfigError(`THEME_DIR: ${path.join(themeDir, file)}: ${problem}`);
}

function templateFrom(dir: string, file: string): TemplateSource {
  return { name: `./${file.slice(0, -'.eta'.length)}`, file: path.join(dir, file), source: readFileSync(path.join(dir, file), 'utf8') };
}

/** Files below `dir`, as POSIX paths relative to it, dotfiles left out; none when `dir` does not exist. */
function filesBelow(dir: string): string[] {
  try {
    if (!statSync(dir).isDirectory()) return [];
  } catch {
    return [];
  }
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .filter((file) => !file.split('/').some((part) => part.startsWith('.')))
    .sort();
}

function assetFrom(dir: string, file: string, fromTheme: boolean): Asset {
  const extension = path.extname(file).toLowerCase();
  const contentType = ASSET_TYPES[extension] ?? (!fromTheme && extension === '.js' ? BUILT_IN_SCRIPT_TYPE : undefined);
  if (!contentType) refuse(dir, file, `not a served asset type (${Object.keys(ASSET_TYPES).join(' ')})`);
  const body = readFileSync(path.join(dir, file));
  const hash = createHash('sha256').update(body).digest('base64url');
  return { body, contentType, etag: `"${hash.slice(0, 27)}"`, ...(fromTheme ? { version: hash.slice(0, 10) } : {}) };
}

/**
 * locales/en.json and ko.json: flat objects of strings. A key must be one
 * the built-in catalogue has (a misspelt key would otherwise change nothing,
 * silently) or start with `theme.` (the theme's own templates' strings).
 */
function themeCatalogues(themeDir: string): Partial<Record<Locale, Catalogue>> {
  const overrides: Partial<Record<Locale, Catalogue>> = {};
  for (const file of filesBelow(path.join(themeDir, 'locales'))) {
    const where = `locales/${file}`;
    const locale = LOCALES.find((l) => `${l}.json` === file);
    if (!locale) refuse(themeDir, where, `not a locale Tollgate speaks (${LOCALES.map((l) => `${l}.json`).join(', ')})`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path.join(themeDir, where), 'utf8'));
    } catch (err) {
      refuse(themeDir, where, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) refuse(themeDir, where, 'must be a JSON object of strings');
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') refuse(themeDir, where, `"${key}" must be a string`);
      if (!Object.hasOwn(BUILT_IN_CATALOGUES.en, key) && !key.startsWith('theme.')) {
        refuse(themeDir, where, `"${key}" is not a built-in key (views/locales/en.json); keys of the theme's own start with "theme."`);
      }
    }
    overrides[locale] = parsed as Catalogue;
  }
  return overrides;
}

// Server-rendered pages from the templates in views/ at the repository's
// root. Eta escapes every `<%= %>` by default; `<%~ %>` (raw) is used only
// for the layout's body slot and for the logout form oidc-provider builds
// (escaped by the library).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Eta } from 'eta';
import { translator, type Locale } from '../i18n.ts';
import { projectPath } from '../paths.ts';

export const VIEWS_DIR = projectPath('views');

export interface Views {
  render(name: string, locale: Locale, data: Record<string, unknown>): string;
  /** The stylesheet, read once. */
  readonly stylesheet: { body: Buffer; etag: string };
}

export function createViews(options: { assetsPath: string; cache: boolean }): Views {
  const eta = new Eta({ views: VIEWS_DIR, cache: options.cache, autoEscape: true });
  const css = readFileSync(projectPath('views', 'assets', 'tollgate.css'));
  return {
    render: (name, locale, data) => eta.render(`./${name}`, { ...data, lang: locale, t: translator(locale), assetsPath: options.assetsPath }),
    stylesheet: { body: css, etag: `"${createHash('sha256').update(css).digest('base64url').slice(0, 27)}"` },
  };
}

// Languages of the hosted pages: English and Korean, chosen from the
// request's `ui_locales` (OpenID Connect Core §3.1.2.1), then the browser's
// Accept-Language, then English. Strings live in views/locales/*.json; a
// theme (THEME_DIR, views/theme.ts) overrides them key by key.
import { readFileSync } from 'node:fs';
import { projectPath } from './paths.ts';

export const LOCALES = ['en', 'ko'] as const;
export type Locale = (typeof LOCALES)[number];
const DEFAULT_LOCALE: Locale = 'en';

export type Catalogue = Readonly<Record<string, string>>;
export type Catalogues = Readonly<Record<Locale, Catalogue>>;

/** The strings Tollgate ships, read once. */
export const BUILT_IN_CATALOGUES: Catalogues = Object.fromEntries(
  LOCALES.map((l) => [l, JSON.parse(readFileSync(projectPath('views', 'locales', `${l}.json`), 'utf8')) as Catalogue]),
) as Catalogues;

/** `base` with each key of `overrides` replaced or added, key by key: a key left out keeps its base string. */
export function withOverrides(base: Catalogues, overrides: Partial<Record<Locale, Catalogue>>): Catalogues {
  return Object.fromEntries(LOCALES.map((l) => [l, Object.freeze({ ...base[l], ...overrides[l] })])) as Catalogues;
}

function supported(tag: string): Locale | undefined {
  const primary = tag.trim().toLowerCase().split('-')[0];
  return LOCALES.find((l) => l === primary);
}

/**
 * `ui_locales` is space-separated in order of preference; Accept-Language
 * carries q-values (RFC 9110 §12.5.4). Not Koa's `ctx.acceptsLanguages()`:
 * its negotiator ranks an exact match above an earlier, equally weighted
 * regional one ("en-GB,ko" would give Korean, not English) and lets `*` pick
 * our first language over one named at a lower q ("*, ko;q=0.5" would give
 * English); test/unit/locale.test.ts holds both cases.
 */
export function negotiateLocale(uiLocales: unknown, acceptLanguage: string | undefined): Locale {
  if (typeof uiLocales === 'string') {
    for (const tag of uiLocales.split(' ')) {
      const found = supported(tag);
      if (found) return found;
    }
  }
  if (acceptLanguage) {
    const ranked = acceptLanguage.split(',')
      .map((part, index) => {
        const [tag = '', ...params] = part.split(';');
        const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
        return { tag, q: q ? Number(q.slice(2)) : 1, index };
      })
      .filter((r) => Number.isFinite(r.q) && r.q > 0)
      .sort((a, b) => b.q - a.q || a.index - b.index);
    for (const { tag } of ranked) {
      const found = supported(tag);
      if (found) return found;
    }
  }
  return DEFAULT_LOCALE;
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/**
 * A translator for one locale; a missing key falls back to English, then to
 * the key itself. `catalogues`: a theme's (Views.translator), else the built-in ones.
 */
export function translator(locale: Locale, catalogues: Catalogues = BUILT_IN_CATALOGUES): Translate {
  const own = catalogues[locale];
  const fallback = catalogues[DEFAULT_LOCALE];
  return (key, vars) => {
    const text = own[key] ?? fallback[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m)) : text;
  };
}

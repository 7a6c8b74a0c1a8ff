// Server-rendered pages from the templates in views/ at the repository's
// root, with a theme's (THEME_DIR) over them (theme.ts). Eta escapes every
// `<%= %>` by default; `<%~ %>` (raw) is allowed only for the layout's body
// slot, the logout form oidc-provider builds (escaped by the library) and
// included templates, in a theme's templates as in ours.
//
// Every template is read and compiled once, at start, and each page is
// rendered once per language with sample data (page-samples.ts): a template
// that does not compile or throws stops the start with one line naming its
// file, rather than serving a broken page, or silently the unthemed one, to
// the first visitor. No file is read after start: a changed theme needs a restart.
import { Eta } from 'eta/core';
import { ConfigError } from '../errors.ts';
import { LOCALES, translator, type Locale, type Translate } from '../i18n.ts';
import { PAGE_SAMPLES } from './page-samples.ts';
import { loadThemeFiles, type Asset, type TemplateSource } from './theme.ts';

export interface Views {
  render(name: string, locale: Locale, data: Record<string, unknown>): string;
  /** The strings of the pages, the theme's over the built-in ones. */
  translator(locale: Locale): Translate;
  /** Served under the assets path, by path below it (`/tollgate.css`): the built-in stylesheet and the theme's assets. */
  readonly assets: ReadonlyMap<string, Asset>;
}

/** A template threw: names its file, so that the start-up line points at it. */
class TemplateRenderError extends Error {}

/** Raw output a template may write: our layout's slot, oidc-provider's logout form, included templates. */
const RAW_ALLOWED = /^(it\.body|it\.form|include\(|block\()/;

/** `themeDir`: THEME_DIR, already checked to be a directory. Throws ConfigError (one line) for a theme that cannot be served. */
export function createViews(options: { assetsPath: string; themeDir?: string }): Views {
  const files = loadThemeFiles(options.themeDir);
  // eta/core: no file system access of its own; the templates are the ones loaded above, registered by the name they are included as.
  // debug: a runtime error carries the template line it happened on.
  const eta = new Eta({ autoEscape: true, debug: true });
  for (const template of files.templates) eta.loadTemplate(template.name, compile(eta, template));

  const assetUrl = (file: string | undefined) => {
    const version = file && files.assets.get(`/${file}`)?.version;
    return file ? `${options.assetsPath}/${file}${version ? `?v=${version}` : ''}` : undefined;
  };
  const page = {
    assetsPath: options.assetsPath,
    logoUrl: assetUrl(files.logo),
    themeStylesheetUrl: assetUrl(files.themeStylesheet),
  };
  const translators = Object.fromEntries(LOCALES.map((l) => [l, translator(l, files.catalogues)])) as Record<Locale, Translate>;
  const render: Views['render'] = (name, locale, data) => eta.render(`./${name}`, { ...data, ...page, lang: locale, t: translators[locale] });

  for (const [name, sample] of Object.entries(PAGE_SAMPLES)) {
    for (const locale of LOCALES) {
      try {
        render(name, locale, sample);
      } catch (err) {
        throw new ConfigError(`THEME_DIR: ${err instanceof TemplateRenderError ? err.message : `${name}.eta: ${firstLine(err)}`} (rendering ${name} in ${locale} with sample data)`);
      }
    }
  }

  return { render, translator: (locale) => translators[locale], assets: files.assets };
}

/** Compiles one template, refusing raw output of anything but what RAW_ALLOWED names; its errors name its file. The mail templates use it too (mail/templates.ts). */
export function compile(eta: Eta, template: TemplateSource) {
  let fn: ReturnType<Eta['compile']>;
  try {
    for (const part of eta.parse(template.source)) {
      if (typeof part !== 'string' && part.t === 'r' && !RAW_ALLOWED.test(part.val.replace(/^[-_]/, '').trim())) {
        throw new Error(`raw output <%~ ${part.val.trim()} %> (line ${part.lineNo ?? '?'}) would skip HTML escaping; use <%= %>`);
      }
    }
    fn = eta.compile(template.source);
  } catch (err) {
    throw new ConfigError(`THEME_DIR: ${template.file}: ${firstLine(err)}`);
  }
  return function render(this: Eta, ...args: Parameters<typeof fn>) {
    try {
      return fn.apply(this, args);
    } catch (err) {
      // The innermost template that threw is the one to name; the templates around it rethrow its error (eta wraps it in `cause`).
      for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof TemplateRenderError) throw e;
      throw new TemplateRenderError(`${template.file}: ${firstLine(err)}`);
    }
  };
}

/**
 * Eta's messages run over several lines (the template's code around the
 * error); the start-up report is one line: "line N: what went wrong".
 */
function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const paragraphs = message.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
  const at = /^line (\d+)\b/.exec(message)?.[0];
  if (message.startsWith('Bad template syntax')) return `JavaScript syntax error: ${(paragraphs[1] ?? message).split('\n')[0]}`;
  if (at) return `${at}: ${paragraphs.at(-1)!.split('\n')[0]}`;
  return message.split('\n')[0]!.replace(/:$/, '');
}

// Server-rendered pages from views/. Eta escapes every `<%= %>` by default;
// `<%~ %>` (raw) is used only for the layout's body slot.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { Eta } from 'eta';

export const VIEWS_DIR = fileURLToPath(new URL('../views', import.meta.url));

export interface Views {
  render(name: string, data: Record<string, unknown>): string;
  /** The stylesheet, read once. */
  readonly stylesheet: { body: Buffer; etag: string };
}

export function createViews(options: { assetsPath: string; cache: boolean }): Views {
  const eta = new Eta({ views: VIEWS_DIR, cache: options.cache, autoEscape: true });
  const css = readFileSync(new URL('../views/assets/tollgate.css', import.meta.url));
  return {
    render: (name, data) => eta.render(`./${name}`, { ...data, assetsPath: options.assetsPath }),
    stylesheet: { body: css, etag: `"${createHash('sha256').update(css).digest('base64url').slice(0, 27)}"` },
  };
}

/** The CSP of our pages: no script at all, styles and forms from our origin only, never framed. */
export const PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

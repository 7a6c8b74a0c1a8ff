// The messages' text: views/mail/<kind>.html.eta and <kind>.text.eta around
// views/mail/layout.{html,text}.eta, strings under `mail.<kind>.*` in
// views/locales/*.json, and a theme's (THEME_DIR) mail/*.eta over the
// built-in files, file by file, as for the pages (views/theme.ts). Compiled
// with the pages' compiler (views/views.ts): the same Eta, the same refusal
// of raw output, errors that name the file. The HTML part escapes every
// `<%= %>`; the text part is plain text and escapes nothing.
//
// As the pages are, every message is rendered once per language with sample
// data at start, so a template that throws stops the start instead of the
// first send (which nobody would see fail: the send is in the background).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Eta } from 'eta/core';
import { ConfigError } from '../errors.ts';
import { LOCALES, type Locale, type Translate } from '../i18n.ts';
import { projectPath } from '../paths.ts';
import { compile } from '../views/views.ts';
import type { TemplateSource } from '../views/theme.ts';

export const MAIL_KINDS = ['verify_email', 'confirm_email_change', 'reset_password', 'email_changed', 'account_deleted'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface MailTemplates {
  /** Throws only for data the templates cannot take (a bug of the caller): the mailer catches it. */
  render(kind: MailKind, locale: Locale, data: Record<string, unknown>): RenderedMail;
}

/** What each message receives, one example each: rendered at start in every language. Keep in step with docs/email.md. */
export const MAIL_SAMPLES: Readonly<Record<MailKind, Record<string, unknown>>> = {
  verify_email: { link: 'https://id.example.test/verify/sample-token', name: 'Ada' },
  confirm_email_change: { link: 'https://id.example.test/account/confirm-email?token=sample-token', minutes: 60 },
  reset_password: { link: 'https://id.example.test/reset/sample-token', minutes: 30 },
  email_changed: { newEmail: 'ada@example.test' },
  account_deleted: {},
};

const PARTS = ['html', 'text'] as const;

/** `issuer`: named in every footer; `translate`: the pages' strings (a theme's over the built-in ones). */
export function createMailTemplates(options: { issuer: string; themeDir?: string; translate: (locale: Locale) => Translate }): MailTemplates {
  const engines = {
    html: new Eta({ autoEscape: true, debug: true }),
    // Plain text: escaping would put `&amp;` into the links people copy.
    text: new Eta({ autoEscape: false, debug: true }),
  };
  if (options.themeDir) refuseUnknownThemeFiles(options.themeDir);
  for (const part of PARTS) {
    for (const name of ['layout', ...MAIL_KINDS]) {
      const template = templateSource(`${name}.${part}.eta`, options.themeDir);
      engines[part].loadTemplate(template.name, compile(engines[part], template));
    }
  }

  const render: MailTemplates['render'] = (kind, locale, data) => {
    const t = options.translate(locale);
    const it = {
      ...data,
      // The old address is told of the change: it sees the new one masked (it may not be the owner's any more).
      ...(kind === 'email_changed' && typeof data.newEmail === 'string' ? { newEmail: maskAddress(data.newEmail) } : {}),
      kind, lang: locale, t, issuer: options.issuer,
    };
    return {
      subject: t(`mail.${kind}.subject`, { brand: t('brand') }),
      html: engines.html.render(`./mail/${kind}.html`, it),
      text: engines.text.render(`./mail/${kind}.text`, it),
    };
  };

  for (const kind of MAIL_KINDS) {
    for (const locale of LOCALES) {
      try {
        render(kind, locale, MAIL_SAMPLES[kind]);
      } catch (err) {
        throw new ConfigError(`THEME_DIR: ${err instanceof Error ? err.message.split('\n')[0] : String(err)} (rendering the ${kind} message in ${locale} with sample data)`);
      }
    }
  }
  return { render };
}

/** A misspelt file in the theme's mail/ would silently change nothing: refused, as views/theme.ts refuses one beside the pages. */
function refuseUnknownThemeFiles(themeDir: string): void {
  const dir = path.join(themeDir, 'mail');
  if (!existsSync(dir)) return;
  const known = new Set(PARTS.flatMap((part) => ['layout', ...MAIL_KINDS].map((name) => `${name}.${part}.eta`)));
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || known.has(entry.name)) continue;
    throw new ConfigError(`THEME_DIR: ${path.join(dir, entry.name)}: not a mail template Tollgate renders (<${['layout', ...MAIL_KINDS].join('|')}>.<html|text>.eta)`);
  }
}

/** The theme's `mail/<file>` when it has one, else the built-in views/mail/<file>. */
function templateSource(file: string, themeDir: string | undefined): TemplateSource {
  const themed = themeDir && path.join(themeDir, 'mail', file);
  const chosen = themed && existsSync(themed) ? themed : projectPath('views', 'mail', file);
  return { name: `./mail/${file.slice(0, -'.eta'.length)}`, file: chosen, source: readFileSync(chosen, 'utf8') };
}

/**
 * An address shown in a message that may reach someone else (the old
 * address, told of a change): enough to recognise it, not to harvest it.
 * `ada.lovelace@example.com` → `a***@example.com`.
 */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

// Outgoing mail: what the flows (verification, password reset, profile)
// call. A message is rendered at once, in the person's language, then handed
// to the outbox (outbox.ts), which delivers it in the background through SMTP
// (nodemailer) or, in development with MAIL_LOG=true, writes it to the log.
// `send` never throws and never waits for the mail server: the page that
// asked for the message answers the same whether the server is up, down or
// refusing, and whether or not the address has an account.
//
// nodemailer upgrades an smtp:// connection with STARTTLS whenever the server
// offers it (smtp-connection: `!secure && !ignoreTLS && /STARTTLS/`), and
// SMTP_URL's query passes its options through (`?requireTLS=true` refuses to
// send in plain text). The URL's password reaches nodemailer only: it is in
// no log line and no error we write.
import nodemailer, { type SMTPTransportOptions } from 'nodemailer';
import type { Config } from '../config.ts';
import type { Locale, Translate } from '../i18n.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { createMailTemplates, MAIL_KINDS, type MailKind, type MailTemplates, type RenderedMail } from './templates.ts';
import { createOutbox, type DeliveryFailure, type OutboxOptions } from './outbox.ts';

export type { MailKind } from './templates.ts';
export { MAIL_KINDS } from './templates.ts';

export interface MailRequest {
  kind: MailKind;
  to: string;
  locale: Locale;
  /**
   * What the message shows: `verify_email` { link, name? } (the flows pass no
   * name: the address is not confirmed yet), `confirm_email_change` { link,
   * minutes }, `reset_password` { link, minutes }, `email_changed` { newEmail } (shown masked:
   * `a***@example.com`), `account_deleted` {}. Links are absolute, built
   * from ISSUER by the caller.
   */
  data: Record<string, unknown>;
  /** For the log: which account a failure concerns (the address never is logged). */
  accountId?: string;
}

export interface Mailer {
  /** False when no mail is configured (neither SMTP_URL nor MAIL_LOG): callers show "e-mail is not available". */
  readonly enabled: boolean;
  /** Renders now, queues, returns at once. Never throws or rejects, never blocks the page. */
  send(request: MailRequest): void;
  /** Resolves when nothing is queued or in flight (tests, shutdown). */
  idle(): Promise<void>;
  /** Stops retrying; waits briefly for a send in flight. */
  close(): Promise<void>;
}

export interface MailerOptions extends OutboxOptions {
  /** More nodemailer SMTP options, under SMTP_URL's own (tests: a certificate authority to trust). */
  readonly smtp?: SMTPTransportOptions;
}

interface Queued {
  readonly kind: MailKind;
  readonly label: Readonly<Record<string, unknown>>;
  readonly to: string;
  readonly locale: Locale;
  readonly message: RenderedMail;
}

/**
 * Seconds, not nodemailer's minutes (2 min to connect, 10 min idle): a send
 * in flight holds a slot of the outbox, and a server that accepts
 * connections but never answers must not hold it for long. Retries cover a
 * slow server.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

export function createMailer(deps: {
  config: Pick<Config, 'mail' | 'issuer' | 'themeDir'>;
  logger: Logger;
  metrics?: Pick<Metrics, 'mailSent'>;
  /** The pages' strings (Views.translator), so a theme's wording reaches the messages too. */
  translate: (locale: Locale) => Translate;
  options?: Partial<MailerOptions>;
}): Mailer {
  const { config, logger } = deps;
  const mail = config.mail;
  if (!mail) return disabledMailer(logger);

  const templates: MailTemplates = createMailTemplates({ issuer: config.issuer, themeDir: config.themeDir, translate: deps.translate });
  const deliver = mail.kind === 'smtp' ? smtpDelivery(mail.url, mail.from, deps.options?.smtp) : logDelivery(mail.from, logger);
  const outbox = createOutbox<Queued>({
    deliver: deliver.send,
    failure: smtpFailure,
    outcome: (kind, result) => deps.metrics?.mailSent(kind as MailKind, result),
    logger,
    options: deps.options,
  });

  return {
    enabled: true,
    send(request) {
      const label = { kind: request.kind, ...(request.accountId ? { account_id: request.accountId } : {}) };
      try {
        if (!(MAIL_KINDS as readonly string[]).includes(request.kind)) throw new Error('unknown kind of message');
        const message = templates.render(request.kind, request.locale, request.data);
        outbox.push({ kind: request.kind, label, to: request.to, locale: request.locale, message });
      } catch (err) {
        // A template's error names the template and line, never the data (the link).
        logger.error({ ...label, err: { message: err instanceof Error ? err.message.split('\n')[0] : 'not an error' } }, 'mail not rendered: not sent');
        deps.metrics?.mailSent(request.kind, 'failed');
      }
    },
    idle: () => outbox.idle(),
    async close() {
      await outbox.close();
      deliver.close();
    },
  };
}

function disabledMailer(logger: Logger): Mailer {
  const warned = new Set<string>();
  return {
    enabled: false,
    send(request) {
      if (warned.has(request.kind)) return;
      warned.add(request.kind);
      logger.warn({ kind: request.kind }, 'mail is off (set SMTP_URL and MAIL_FROM): this kind of message is dropped');
    },
    idle: async () => {},
    close: async () => {},
  };
}

interface Delivery {
  send(item: Queued): Promise<void>;
  close(): void;
}

function smtpDelivery(url: string, from: string, extra: SMTPTransportOptions | undefined): Delivery {
  // One connection per message, no pool: mail here is a trickle, and a fresh
  // connection after an outage needs no reconnection logic of ours.
  const transport = nodemailer.createTransport({ ...SMTP_TIMEOUTS, ...extra, url });
  return {
    async send(item) {
      await transport.sendMail({
        from,
        to: item.to,
        subject: item.message.subject,
        text: item.message.text,
        html: item.message.html,
        headers: {
          // RFC 3834 §5: an automatic message; out-of-office replies should not answer it.
          'Auto-Submitted': 'auto-generated',
          'Content-Language': item.locale,
        },
      });
    },
    close: () => transport.close(),
  };
}

/** MAIL_LOG=true (development, refused in production): the message, links and all, goes to the log. */
function logDelivery(from: string, logger: Logger): Delivery {
  return {
    async send(item) {
      logger.info({ ...item.label, from, to: item.to, subject: item.message.subject, text: item.message.text }, 'mail written to the log (MAIL_LOG=true), not sent');
    },
    close: () => {},
  };
}

/**
 * nodemailer's errors carry `responseCode` (the SMTP reply) and `code`
 * (ECONNECTION, ETIMEDOUT, EENVELOPE …). A 5xx reply is a permanent refusal
 * (RFC 5321 §4.2.1), and so is an envelope the client itself refuses (an
 * address it cannot use); connection failures, time-outs and 4xx replies are
 * passing. Only codes reach the log: nodemailer's message may quote the
 * server's reply, which may quote the address.
 */
function smtpFailure(err: unknown): DeliveryFailure {
  const { responseCode, code, command } = (err ?? {}) as { responseCode?: unknown; code?: unknown; command?: unknown };
  const smtpCode = typeof responseCode === 'number' ? responseCode : undefined;
  const errorCode = typeof code === 'string' ? code : undefined;
  const permanent = smtpCode !== undefined ? smtpCode >= 500 : errorCode === 'EENVELOPE' || errorCode === 'EMESSAGE';
  return {
    permanent,
    details: {
      ...(smtpCode !== undefined ? { smtp_code: smtpCode } : {}),
      ...(errorCode ? { error_code: errorCode } : {}),
      ...(typeof command === 'string' ? { smtp_command: command } : {}),
    },
  };
}

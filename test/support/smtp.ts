// A real SMTP server in the test process: smtp-server (by nodemailer's
// author) on loopback, a port of its own, and mailparser reading what
// arrives. It can require AUTH, offer STARTTLS with a throwaway certificate
// (made by Debian's openssl at test time), refuse mail (451 or 550), and go
// down and come back on the same port, for the delivery and retry tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export type { ParsedMail } from 'mailparser';

/** One message as the server received it. */
export interface Delivery {
  readonly message: ParsedMail;
  /** Whether the session was under TLS (STARTTLS or implicit) when the message came. */
  readonly secure: boolean;
  /** The user it authenticated as, if any. */
  readonly user?: string;
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
}

export interface TestSmtp {
  /** smtp://[user:pass@]127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Everything delivered, in order. */
  readonly messages: ParsedMail[];
  readonly deliveries: Delivery[];
  /** The certificate the server presents (PEM), when it offers STARTTLS: for the client to trust. */
  readonly certificate?: string;
  /** The first message (already here or still to come) that `predicate` accepts. */
  waitFor(predicate: (m: ParsedMail) => boolean, timeoutMs?: number): Promise<ParsedMail>;
  /** The first http(s) link in the text part (starting with `prefix`, e.g. the issuer, when given). */
  linkIn(m: ParsedMail, prefix?: string): string;
  /** Answer 451 (temporary) or 550 (permanent) to every RCPT TO, or accept again (false). */
  refuse(mode: 'temporary' | 'permanent' | false): void;
  /** Down (connections refused) and back up on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  /** Offer STARTTLS with a fresh self-signed certificate for 127.0.0.1 and localhost. */
  starttls?: boolean;
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
}

/** A throwaway self-signed certificate for 127.0.0.1 and localhost, valid one day. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-smtp-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startSmtp(options: SmtpOptions = {}): Promise<TestSmtp> {
  const messages: ParsedMail[] = [];
  const deliveries: Delivery[] = [];
  const waiters = new Set<() => void>();
  let refusal: 'temporary' | 'permanent' | false = false;
  const tls = options.starttls ? selfSignedCertificate() : undefined;

  const serverOptions: SMTPServerOptions = {
    logger: false,
    // A stop() must not wait for a client's idle connection (30 s by default).
    closeTimeout: 100,
    authOptional: !options.auth,
    // Without STARTTLS, AUTH travels in plain text: allowed here, on loopback, so plain SMTP + AUTH can be tested too.
    allowInsecureAuth: true,
    ...(tls ? { key: tls.key, cert: tls.cert } : { disabledCommands: ['STARTTLS'] }),
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
        return;
      }
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(_address, _session, callback) {
      if (refusal === 'temporary') callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
      else if (refusal === 'permanent') callback(Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 }));
      else callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      simpleParser(stream).then((message) => {
        messages.push(message);
        deliveries.push({
          message,
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
        });
        for (const wake of waiters) wake();
        callback();
      }, (err: Error) => callback(err));
    },
  };

  let server: SMTPServer | undefined;
  let port = 0;
  const start = async () => {
    // A fresh server each time: smtp-server does not listen again once closed.
    const next = new SMTPServer(serverOptions);
    next.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      next.server.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    port = (next.server.address() as { port: number }).port;
    server = next;
  };
  const stop = async () => {
    const current = server;
    server = undefined;
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await start();

  const credentials = options.auth ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@` : '';
  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    port,
    messages,
    deliveries,
    certificate: tls?.cert,
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(predicate);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching message within ${timeoutMs} ms (${messages.length} received)`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    linkIn(m, prefix = '') {
      const links = (m.text ?? '').match(/https?:\/\/[^\s<>"]+/g) ?? [];
      const link = links.find((l) => l.startsWith(prefix));
      if (!link) throw new Error(`no link${prefix ? ` to ${prefix}` : ''} in the message's text part`);
      return link;
    },
    refuse(mode) {
      refusal = mode;
    },
    stop,
    start,
    close: stop,
  };
}

// Error types. Each carries the OAuth-style `code` a client sees, the HTTP
// status, and whether its message may be shown (`expose`); anything else
// leaves the process as `server_error` and its detail goes to the log only
// (the rule oidc-provider's lib/helpers/errors.js follows).

export class TollgateError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;

  constructor(code: string, message: string, status: number, expose = status < 500) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.expose = expose;
  }
}

/**
 * Configuration values are missing or malformed: the process refuses to
 * start. `problems` holds one line per variable (`PORT: must be a number`);
 * the message is those lines, one per line.
 */
export class ConfigError extends TollgateError {
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super('invalid_configuration', list.join('\n'), 500, true);
    this.problems = Object.freeze(list);
  }
}

/** Input failed validation (CLI arguments, forms, API bodies); `fields` names each bad field (`redirect_uris.0`) with what is wrong. */
export class ValidationError extends TollgateError {
  /** `code`: invalid_request, or RFC 7591 §3.2.2's invalid_client_metadata / invalid_redirect_uri for client registrations the library refuses. */
  constructor(message: string, readonly fields?: Record<string, string>, code = 'invalid_request') {
    super(code, message, 400);
  }
}

/** A unique value (client id, e-mail) is already taken. */
export class ConflictError extends TollgateError {
  constructor(message: string) {
    super('conflict', message, 409);
  }
}

export class NotFoundError extends TollgateError {
  constructor(message: string) {
    super('not_found', message, 404);
  }
}

/** The database holds a migration that failed or was edited after it ran. */
export class MigrationError extends TollgateError {
  constructor(message: string) {
    super('migration_failed', message, 500, true);
  }
}

/** A value holds a character the database cannot store (NUL). */
export class UnstorableValueError extends TollgateError {
  constructor() {
    super('invalid_request', 'parameters must not contain NUL characters', 400);
  }
}

/** The embedded database is open in another process. */
export class DatabaseBusyError extends TollgateError {
  constructor(message: string) {
    super('database_busy', message, 503, true);
  }
}

/** The running server's control socket cannot be used: missing, not answering, or not private to this user. */
export class ControlSocketError extends TollgateError {
  constructor(message: string) {
    super('control_socket_unavailable', message, 503, true);
  }
}

/** The database or Redis cannot be reached right now: try again shortly (RFC 6749 §4.1.2.1's temporarily_unavailable). */
export class ServiceUnavailableError extends TollgateError {
  constructor() {
    super('temporarily_unavailable', 'the service is temporarily unavailable; try again shortly', 503, true);
  }
}

/**
 * Mail is off (no SMTP_URL): what needs a message cannot be done. 503, as
 * for any service this server lacks; exposed, since only the operator who
 * configures the server can act on it.
 */
export class MailUnavailableError extends TollgateError {
  constructor() {
    super('mail_unavailable', 'e-mail is not configured on this server (set SMTP_URL and MAIL_FROM): no message can be sent', 503, true);
  }
}

/** The shape every JSON error response of ours has (RFC 6749 §5.2). */
export function errorBody(err: TollgateError): { error: string; error_description: string } {
  return err.expose
    ? { error: err.code, error_description: err.message }
    : { error: 'server_error', error_description: 'internal server error' };
}

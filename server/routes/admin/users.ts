// /admin/v1/users: people, their roles and organisation, their password, and
// what they are signed in with (sessions and grants), which an administrator
// can end one by one or all at once (forced logout), and the identities at
// upstream providers they sign in with (issue 15), which an administrator can
// unlink, except the last way in.
import { z } from 'zod';
import { ConflictError, MailUnavailableError, NotFoundError, ValidationError } from '../../errors.ts';
import { LOCALES } from '../../i18n.ts';
import type { EmailVerification } from '../../services/email-verification.ts';
import type { Audit } from '../../services/audit.ts';
import { accountPatch, newAccountInput, passwordReset, type AccountService, type AccountView } from '../../services/accounts.ts';
import { sessionsOverviewJson, type SessionService } from '../../services/sessions.ts';
import type { PasswordReset } from '../../services/password-reset.ts';
import type { AccountDeletion } from '../../services/account-deletion.ts';
import type { Identities } from '../../federation/identities.ts';
import type { MfaService } from '../../mfa/mfa.ts';
import type { Passkeys } from '../../mfa/passkeys.ts';
import { factorOverview, resetAllFactors } from '../../mfa/operator.ts';
import { callerOf, recordChange, requireOperator } from './caller.ts';
import { queryText, route, type AdminContext, type AdminRoute } from './route.ts';
import { listOf, ref } from './schemas.ts';

const userQuery = z.strictObject({
  email: queryText(320).trim().toLowerCase().optional(),
  organisation: queryText(100).optional(),
  limit: z.coerce.number({ error: 'must be a whole number' }).int().min(1).max(1000).default(100),
  offset: z.coerce.number({ error: 'must be a whole number' }).int().min(0).default(0),
});

/** POST /users/{id}/verification-email: the message's language (the person's own is not known here). */
const verificationEmailInput = z.strictObject({ locale: z.enum(LOCALES).default('en') });

export function userRoutes(deps: { accounts: AccountService; sessions: SessionService; audit: Audit; passwordReset: PasswordReset; emailVerification: EmailVerification; accountDeletion: AccountDeletion; identities: Pick<Identities, 'list' | 'unlink'>; mfa: Pick<MfaService, 'factorsOf' | 'resetFactors'>; passkeys: Pick<Passkeys, 'list' | 'removeAll'> }): AdminRoute[] {
  /** The account, when the caller may manage it: an organisation's administrator sees only its own users (others are 404, not 403: their existence is not theirs to know). */
  const manageable = async (ctx: AdminContext): Promise<AccountView> => {
    const account = await deps.accounts.get(ctx.params.id!);
    const { organisation } = callerOf(ctx);
    if (organisation && account.organisation !== organisation) throw new NotFoundError(`no account with id "${ctx.params.id}"`);
    return account;
  };
  /** An organisation's administrator cannot move anyone out of, or into another, organisation. */
  const ownOrganisation = (ctx: AdminContext, requested: string | null | undefined) => {
    const { organisation } = callerOf(ctx);
    if (organisation && requested !== undefined && requested !== organisation) {
      throw new ValidationError(`organisation: must be "${organisation}", your own`, { organisation: `must be "${organisation}", your own` });
    }
    return organisation;
  };

  return [
    route({
      method: 'get', path: '/users', tag: 'users', summary: 'List users (an organisation administrator: their organisation only)',
      query: userQuery,
      responses: { 200: { description: 'Users, oldest first', schema: listOf('Account') } },
      async handle(ctx, { query }) {
        const { organisation } = callerOf(ctx);
        if (organisation && query.organisation && query.organisation !== organisation) {
          ctx.body = { items: [] };
          return;
        }
        ctx.body = { items: await deps.accounts.list({ ...query, ...(organisation ? { organisation } : {}) }) };
      },
    }),
    route({
      method: 'post', path: '/users', tag: 'users', summary: 'Create a user',
      body: newAccountInput,
      responses: {
        201: { description: 'Created', schema: ref('Account') },
        409: { description: 'The e-mail is taken', schema: 'Error' },
      },
      async handle(ctx, { body }) {
        const organisation = ownOrganisation(ctx, body.organisation);
        const created = await deps.accounts.create({ ...body, ...(organisation ? { organisation } : {}) });
        await recordChange(deps.audit, ctx, 'admin.user.created', { accountId: created.id, details: { after: created } });
        ctx.status = 201;
        // The request's own path: ctx.path is relative to the admin API's mount point (app.ts).
        ctx.set('Location', `${ctx.originalUrl.split('?')[0]}/${created.id}`);
        ctx.body = created;
      },
    }),
    route({
      method: 'get', path: '/users/:id', tag: 'users', summary: 'Read a user',
      responses: { 200: { description: 'The user', schema: ref('Account') } },
      async handle(ctx) {
        ctx.body = await manageable(ctx);
      },
    }),
    route({
      method: 'patch', path: '/users/:id', tag: 'users',
      summary: 'Change name, roles, organisation, email_verified (the operator vouches for the address); disable (which also ends every session and grant) or enable',
      body: accountPatch,
      responses: { 200: { description: 'Changed', schema: ref('Account') } },
      async handle(ctx, { body }) {
        await manageable(ctx);
        ownOrganisation(ctx, body.organisation);
        // Vouching for an address is the server operator's: an organisation's
        // administrator could otherwise create anyone's address, verified.
        if (body.email_verified !== undefined) requireOperator(ctx);
        const { before, after } = await deps.accounts.update(ctx.params.id!, body);
        // A disabled account can no longer sign in or refresh (oidc/find-account.ts);
        // ending what it holds also makes its tokens inactive at introspection.
        const ended = after.disabled && !before.disabled ? await deps.sessions.endEverything(after.id) : undefined;
        await recordChange(deps.audit, ctx, 'admin.user.updated', { accountId: after.id, details: { before, after, ...(ended ? { ended } : {}) } });
        ctx.body = after;
      },
    }),
    route({
      method: 'delete', path: '/users/:id', tag: 'users',
      summary: 'Delete a user: every session and grant ends (back-channel logout), personal data goes, the audit trail stays under the id; a goodbye e-mail when mail is on',
      responses: { 204: { description: 'Deleted' } },
      async handle(ctx) {
        const account = await manageable(ctx);
        const { actor } = callerOf(ctx);
        if (!(await deps.accountDeletion.delete(account.id, { actor, by: 'admin api', ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, locale: 'en' }))) {
          throw new NotFoundError(`no account with id "${ctx.params.id}"`);
        }
        ctx.status = 204;
      },
    }),
    route({
      method: 'post', path: '/users/:id/password', tag: 'users', summary: 'Set a new password',
      body: passwordReset,
      responses: { 204: { description: 'Set' } },
      async handle(ctx, { body }) {
        const account = await manageable(ctx);
        await deps.accounts.setPassword(account.id, body.password);
        await recordChange(deps.audit, ctx, 'admin.user.password_reset', { accountId: account.id });
        ctx.status = 204;
      },
    }),
    route({
      method: 'post', path: '/users/:id/password-reset-email', tag: 'users',
      summary: "E-mail the user a password reset link (single use, 30 minutes; only the newest works)",
      body: z.strictObject({ locale: z.enum(LOCALES, { error: `must be one of: ${LOCALES.join(', ')}` }).default('en') }),
      responses: {
        202: { description: 'The message is queued for delivery (it is retried while the mail server is down)', schema: { type: 'object', properties: { account: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } } } },
        409: { description: 'The account is disabled', schema: 'Error' },
        503: { description: 'E-mail is not configured (error mail_unavailable)', schema: 'Error' },
      },
      async handle(ctx, { body }) {
        const account = await manageable(ctx);
        const caller = callerOf(ctx);
        ctx.body = await deps.passwordReset.sendFor(account.id, body.locale, {
          actor: caller.actor, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, via: `admin api (${caller.clientId})`,
        });
        ctx.status = 202;
      },
    }),
    route({
      method: 'post', path: '/users/:id/verification-email', tag: 'users',
      summary: 'E-mail the user a link that verifies their address (valid 24 hours; the previous link stops working)',
      body: verificationEmailInput,
      responses: {
        202: {
          description: 'Queued for delivery (sent in the background, retried for about an hour)',
          schema: { type: 'object', required: ['queued', 'link_expires_at'], properties: { queued: { const: true }, link_expires_at: { type: 'string', format: 'date-time' } } },
        },
        409: { description: 'The address is already verified', schema: 'Error' },
        503: { description: 'Mail is not configured (mail_unavailable)', schema: 'Error' },
      },
      async handle(ctx, { body }) {
        const account = await manageable(ctx);
        // An operator's request is not throttled: it is audited, and only an administrator can make it.
        const outcome = await deps.emailVerification.send(
          { id: account.id, email: account.email, name: account.name, emailVerified: account.email_verified }, body.locale, { throttle: false },
        );
        if (!outcome.sent && outcome.reason === 'mail_off') throw new MailUnavailableError();
        if (!outcome.sent) throw new ConflictError('the address of this account is already verified');
        await recordChange(deps.audit, ctx, 'email.verification_sent', { accountId: account.id, details: { by: 'admin api' } });
        ctx.status = 202;
        ctx.body = { queued: true, link_expires_at: outcome.expiresAt.toISOString() };
      },
    }),
    route({
      method: 'get', path: '/users/:id/sessions', tag: 'users', summary: "A user's sessions (with their devices) and grants",
      responses: { 200: { description: 'Sessions and grants, newest first', schema: ref('Sessions') } },
      async handle(ctx) {
        const account = await manageable(ctx);
        ctx.body = sessionsOverviewJson(await deps.sessions.overview(account.id));
      },
    }),
    route({
      method: 'delete', path: '/users/:id/sessions/:uid', tag: 'users', summary: 'End one session, with the refresh tokens issued in it',
      responses: { 204: { description: 'Ended' } },
      async handle(ctx) {
        const account = await manageable(ctx);
        if (!(await deps.sessions.endSession(account.id, ctx.params.uid!))) throw new NotFoundError(`no session "${ctx.params.uid}" of this user`);
        await recordChange(deps.audit, ctx, 'admin.session.ended', { accountId: account.id, details: { session_uid: ctx.params.uid } });
        ctx.status = 204;
      },
    }),
    route({
      method: 'delete', path: '/users/:id/grants/:grantId', tag: 'users', summary: "Revoke a client's access: its grants from this user and every token issued from them",
      responses: { 204: { description: 'Revoked' } },
      async handle(ctx) {
        const account = await manageable(ctx);
        if (!(await deps.sessions.revokeGrant(account.id, ctx.params.grantId!))) throw new NotFoundError(`no grant "${ctx.params.grantId}" of this user`);
        await recordChange(deps.audit, ctx, 'admin.grant.revoked', { accountId: account.id, details: { grant_id: ctx.params.grantId } });
        ctx.status = 204;
      },
    }),
    route({
      method: 'get', path: '/users/:id/identities', tag: 'users', summary: "A user's identities at upstream providers (social login), oldest link first",
      responses: { 200: { description: 'Linked identities', schema: listOf('LinkedIdentity') } },
      async handle(ctx) {
        const account = await manageable(ctx);
        ctx.body = {
          items: (await deps.identities.list(account.id)).map((i) => ({
            provider: i.providerId, upstream_sub: i.upstreamSub, email: i.email, email_verified: i.emailVerified,
            linked_at: i.linkedAt, last_used_at: i.lastUsedAt,
          })),
        };
      },
    }),
    route({
      method: 'delete', path: '/users/:id/identities/:provider', tag: 'users',
      summary: 'Unlink the identity at this provider: the person can no longer sign in with it (sessions already open stay; end them with /logout)',
      responses: {
        204: { description: 'Unlinked' },
        404: { description: 'No such user, or no identity of theirs at this provider', schema: 'Error' },
        409: { description: 'It is their only way to sign in (no password, no other identity): error last_sign_in_method; set a password first', schema: 'Error' },
      },
      async handle(ctx) {
        const account = await manageable(ctx);
        const caller = callerOf(ctx);
        // Audited by the service as identity.unlinked, with the operator as actor.
        const unlinked = await deps.identities.unlink(account.id, ctx.params.provider!, {
          actor: caller.actor, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined,
        });
        if (!unlinked) throw new NotFoundError(`no identity at "${ctx.params.provider}" is linked to this user`);
        ctx.status = 204;
      },
    }),
    route({
      method: 'get', path: '/users/:id/mfa', tag: 'users',
      summary: "A user's second factors: TOTP or not, recovery codes left, passkeys (names and times; never a secret or key)",
      responses: { 200: { description: 'Their factors', schema: ref('MfaFactors') } },
      async handle(ctx) {
        const account = await manageable(ctx);
        ctx.body = await factorOverview(deps, account.id);
      },
    }),
    route({
      method: 'delete', path: '/users/:id/mfa', tag: 'users',
      summary: "Reset a user's second factors (they lost their authenticator): TOTP, recovery codes and every passkey go, and every session and grant ends (forced logout)",
      responses: { 200: { description: 'What was removed and what ended', schema: ref('MfaReset') } },
      async handle(ctx) {
        const account = await manageable(ctx);
        const { actor } = callerOf(ctx);
        // Audited by resetAllFactors as mfa.factors_reset and user.forced_logout, with the operator as actor.
        ctx.body = await resetAllFactors(deps, account.id, { actor, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, by: 'admin api' });
      },
    }),
    route({
      method: 'post', path: '/users/:id/logout', tag: 'users',
      summary: 'Forced logout: every session and grant ends, refresh tokens are revoked, clients hear by back-channel',
      responses: { 200: { description: 'What ended', schema: ref('LogoutResult') } },
      async handle(ctx) {
        const account = await manageable(ctx);
        const ended = await deps.sessions.endEverything(account.id);
        await recordChange(deps.audit, ctx, 'user.forced_logout', { accountId: account.id, details: { ...ended, by: 'admin api' } });
        ctx.body = ended;
      },
    }),
  ];
}

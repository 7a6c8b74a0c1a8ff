// The login and consent pages oidc-provider sends users to (its
// `interactions.url`). Each route validates the form, asks a service, and
// hands the result back to the provider with a 303 (RFC 9700 §4.12: never a
// 307 after a POST carrying credentials).
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { AccountService } from '../services/accounts.ts';
import { PAGE_CSP, type Views } from '../views.ts';
import { ValidationError } from '../errors.ts';

const loginForm = z.object({
  login: z.string().max(320),
  password: z.string().max(1024),
});

interface Dependencies {
  provider: Provider;
  accounts: AccountService;
  views: Views;
  prefix: string;
}

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name',
  email: 'See your e-mail address',
  offline_access: 'Stay signed in to this application',
  basic: 'Use the API on your behalf',
  admin: 'Administer Tollgate on your behalf',
};

export function interactionRoutes({ provider, accounts, views, prefix }: Dependencies): Router {
  const router = new Router({ prefix: `${prefix}/interaction` });

  const page = (ctx: Context, name: string, data: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.set('Content-Security-Policy', PAGE_CSP);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = views.render(name, data);
  };

  const details = async (ctx: Context) => {
    try {
      return await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      // Unknown, expired or already finished interaction: shown here, never redirected.
      page(ctx, 'error', { error: 'login_expired', description: 'This sign-in link has expired or was already used. Go back to the application and start again.' }, 400);
      return undefined;
    }
  };

  router.get('/:uid', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const client = await provider.Client.find(String(interaction.params.client_id));
    const clientName = client?.clientName ?? client?.clientId;
    const base = `${prefix}/interaction/${interaction.uid}`;

    if (interaction.prompt.name === 'login') {
      const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : undefined;
      return page(ctx, 'login', { action: `${base}/login`, clientName, login: hint });
    }
    const missing = interaction.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    const scopes = new Set([...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()]);
    return page(ctx, 'consent', {
      action: `${base}/confirm`,
      abortAction: `${base}/abort`,
      clientName,
      scopes: [...scopes].map((s) => SCOPE_TEXT[s] ?? s),
    });
  });

  router.post('/:uid/login', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    if (interaction.prompt.name !== 'login') throw new ValidationError('this step is already done');
    const form = loginForm.safeParse(ctx.request.body);
    const account = form.success ? await accounts.authenticate(form.data.login, form.data.password) : undefined;
    if (!account) {
      const client = await provider.Client.find(String(interaction.params.client_id));
      return page(ctx, 'login', {
        action: `${prefix}/interaction/${interaction.uid}/login`,
        clientName: client?.clientName ?? client?.clientId,
        login: form.success ? form.data.login : '',
        error: 'The e-mail or password is not right.',
      }, 401);
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
  });

  router.post('/:uid/confirm', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    if (interaction.prompt.name !== 'consent' || !interaction.session?.accountId) throw new ValidationError('nothing to consent to');
    const { accountId } = interaction.session!;
    const account = await accounts.findActive(accountId);
    if (!account) throw new ValidationError('the account is no longer active');

    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId: String(interaction.params.client_id) });
    if (!grant) throw new ValidationError('the grant no longer exists');
    const missing = interaction.prompt.details as {
      missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      // `admin` is never granted to an account without the role; it is
      // recorded as rejected so the user is not asked again.
      const allowed = scopes.filter((s) => s !== 'admin' || account.roles.includes('admin'));
      if (allowed.length) grant.addResourceScope(indicator, allowed.join(' '));
      if (allowed.length < scopes.length) grant.rejectResourceScope(indicator, 'admin');
    }
    const grantId = await grant.save();
    const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(to);
  });

  router.post('/:uid/abort', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const to = await provider.interactionResult(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'the user denied the request',
    }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
  });

  return router;
}

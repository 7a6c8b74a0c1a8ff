// The login, sign-up and consent pages oidc-provider sends users to (its
// `interactions.url`). Thin handlers: load the interaction, check the form,
// call a service, render or hand the result back to the provider.
import Router from '@koa/router';
import { loadInteraction, type InteractionDependencies } from './context.ts';
import { getSignup, postLogin, postSignup, showLogin } from './login.ts';
import { postAbort, postConfirm, showConsent } from './consent.ts';

export type { InteractionDependencies } from './context.ts';

export function interactionRoutes(deps: InteractionDependencies): Router {
  const router = new Router({ prefix: `${deps.prefix}/interaction` });

  router.get('/:uid', async (ctx) => {
    const loaded = await loadInteraction(ctx, deps);
    if (!loaded) return;
    if (loaded.interaction.prompt.name === 'login') return showLogin(ctx, deps, loaded);
    const accountId = loaded.interaction.session?.accountId;
    const account = accountId ? await deps.accounts.findActive(accountId) : undefined;
    if (!account) return deps.pages.error(ctx, 'login_expired', 400, loaded.locale);
    return showConsent(ctx, deps, loaded, account);
  });
  router.post('/:uid/login', (ctx) => postLogin(ctx, deps));
  router.get('/:uid/signup', (ctx) => getSignup(ctx, deps));
  router.post('/:uid/signup', (ctx) => postSignup(ctx, deps));
  router.post('/:uid/confirm', (ctx) => postConfirm(ctx, deps));
  router.post('/:uid/abort', (ctx) => postAbort(ctx, deps));
  return router;
}

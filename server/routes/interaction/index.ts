// The login, sign-up and consent pages oidc-provider sends users to (its
// `interactions.url`), mounted at <issuer path>/interaction (app.ts). Each
// route is a named chain of steps (steps.ts, login.ts, consent.ts), read
// left to right: the first step that refuses answers the request.
import Router from '@koa/router';
import { interactionSteps, type InteractionDependencies, type InteractionState } from './steps.ts';
import { loginForm, loginSteps, signupForm } from './login.ts';
import { consentSteps } from './consent.ts';

export type { InteractionDependencies } from './steps.ts';

export function interactionRoutes(deps: InteractionDependencies): Router<InteractionState> {
  const { loadInteraction, requireCsrf, requirePrompt, onPrompt, parseForm } = interactionSteps(deps);
  const {
    showLogin, invalidLogin, throttleLogin, checkPassword, requireSignup, showSignup, invalidSignup, throttleSignup, createAccount, requireVerifiedEmail, signIn,
  } = loginSteps(deps);
  const { loadSignedInAccount, showConsent, grantConsent, denyRequest } = consentSteps(deps);

  const router = new Router<InteractionState>();
  router.get('/:uid', loadInteraction, onPrompt('login', showLogin), loadSignedInAccount, showConsent);
  router.post('/:uid/login', loadInteraction, requireCsrf, requirePrompt('login'), parseForm(loginForm, invalidLogin), throttleLogin, checkPassword, requireVerifiedEmail, signIn);
  router.get('/:uid/signup', requireSignup, loadInteraction, showSignup);
  router.post('/:uid/signup', requireSignup, loadInteraction, requireCsrf, requirePrompt('login'), throttleSignup, parseForm(signupForm, invalidSignup), createAccount, requireVerifiedEmail, signIn);
  router.post('/:uid/confirm', loadInteraction, requireCsrf, requirePrompt('consent'), loadSignedInAccount, grantConsent);
  router.post('/:uid/abort', loadInteraction, requireCsrf, denyRequest);
  return router;
}

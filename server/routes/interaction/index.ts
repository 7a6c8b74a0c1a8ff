// The login, sign-up and consent pages oidc-provider sends users to (its
// `interactions.url`), mounted at <issuer path>/interaction (app.ts). Each
// route is a named chain of steps (steps.ts, login.ts, consent.ts), read
// left to right: the first step that refuses answers the request.
import Router from '@koa/router';
import { interactionSteps, type InteractionDependencies, type InteractionState } from './steps.ts';
import { loginForm, loginSteps, signupForm } from './login.ts';
import { consentSteps } from './consent.ts';
import { federatedSteps, finishFederated } from './federated.ts';
import { secondFactorForm, secondFactorSteps } from './second-factor.ts';

export type { InteractionDependencies } from './steps.ts';

export function interactionRoutes(deps: InteractionDependencies): Router<InteractionState> {
  const { loadInteraction, requireCsrf, requirePrompt, onPrompt, parseForm } = interactionSteps(deps);
  const {
    showLogin, invalidLogin, throttleLogin, checkPassword, requireSignup, showSignup, invalidSignup, throttleSignup, createAccount, requireVerifiedEmail, signIn,
  } = loginSteps(deps);
  const { loadSignedInAccount, grantFirstParty, showConsent, grantConsent, denyRequest } = consentSteps(deps);
  const { startSignIn, takeCallback, continueSignIn, linkWithPassword } = federatedSteps(deps);
  const signInFederated: typeof signIn = (ctx) => finishFederated(ctx, deps);
  const {
    requireSecondFactor, loadPending, showSecondFactor, invalidSecondFactor, throttleSecondFactor, checkSecondFactor, completeSignIn,
    requireNoFactor, showEnrolment, showTotpSetup, confirmTotpSetup, registerPasskey, showRecoveryCodesAfterEnrolment, continueAfterEnrolment, signInWithPasskey,
  } = secondFactorSteps(deps);
  // The steps after the first factor (second-factor.ts): nothing reaches the provider before them.
  const pendingLogin = [loadInteraction, requirePrompt('login'), loadPending] as const;
  const pendingPost = [loadInteraction, requireCsrf, requirePrompt('login'), loadPending] as const;

  const router = new Router<InteractionState>();
  // The upstream's redirect: no uid in its path (one redirect URI per provider), so before '/:uid'.
  router.get('/federated/:provider/callback', takeCallback);
  router.get('/:uid', loadInteraction, onPrompt('login', showLogin), loadSignedInAccount, grantFirstParty, showConsent);
  router.post('/:uid/login', loadInteraction, requireCsrf, requirePrompt('login'), parseForm(loginForm, invalidLogin), throttleLogin, checkPassword, requireVerifiedEmail, requireSecondFactor, signIn);
  router.get('/:uid/signup', requireSignup, loadInteraction, showSignup);
  router.post('/:uid/signup', requireSignup, loadInteraction, requireCsrf, requirePrompt('login'), throttleSignup, parseForm(signupForm, invalidSignup), createAccount, requireVerifiedEmail, requireSecondFactor, signIn);
  router.post('/:uid/confirm', loadInteraction, requireCsrf, requirePrompt('consent'), loadSignedInAccount, grantConsent);
  router.post('/:uid/abort', loadInteraction, requireCsrf, denyRequest);
  router.post('/:uid/federated/link', loadInteraction, requireCsrf, requirePrompt('login'), linkWithPassword, requireVerifiedEmail, requireSecondFactor, signInFederated);
  router.post('/:uid/federated/:provider', loadInteraction, requireCsrf, requirePrompt('login'), startSignIn);
  router.get('/:uid/federated/continue', loadInteraction, requirePrompt('login'), continueSignIn, requireVerifiedEmail, requireSecondFactor, signInFederated);
  router.get('/:uid/second-factor', ...pendingLogin, showSecondFactor);
  router.post('/:uid/second-factor', ...pendingPost, parseForm(secondFactorForm, invalidSecondFactor), throttleSecondFactor, checkSecondFactor, completeSignIn);
  router.get('/:uid/enrol', ...pendingLogin, requireNoFactor, showEnrolment);
  router.get('/:uid/enrol/totp', ...pendingLogin, requireNoFactor, showTotpSetup);
  router.post('/:uid/enrol/totp', ...pendingPost, requireNoFactor, confirmTotpSetup, showRecoveryCodesAfterEnrolment);
  router.post('/:uid/enrol/passkey', ...pendingPost, requireNoFactor, registerPasskey, showRecoveryCodesAfterEnrolment);
  router.post('/:uid/enrol/done', ...pendingPost, continueAfterEnrolment, completeSignIn);
  router.post('/:uid/passkey', loadInteraction, requireCsrf, requirePrompt('login'), signInWithPasskey, requireVerifiedEmail, completeSignIn);
  return router;
}

// Passkeys without a browser: the software authenticator of
// test/support/software-authenticator.ts against Tollgate's passkey service
// (tollgate.passkeys, which verifies with @simplewebauthn/server) on the
// embedded database. Its encoder agrees with RFC 8949's own examples; what it
// makes registers and signs in, as a second factor and password-less (the
// account found by the user handle); and every knob for the negative tests
// is refused for the reason it stands for: counter, origin, RP ID, user
// verification, another key, another account, a replay.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCbor, SoftwareAuthenticator } from '../support/software-authenticator.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { PasskeyRefusedError, type PasskeyAccount, type PasskeyRefusal } from '../../server/mfa/passkeys.ts';

const PASSWORD = 'Software-authenticator-password-3e9d';

/** The refusal's reason, or a failure if the call did not throw one. */
async function refusal(call: Promise<unknown>): Promise<PasskeyRefusal> {
  try {
    await call;
  } catch (err) {
    if (err instanceof PasskeyRefusedError) return err.reason;
    throw err;
  }
  assert.fail('not refused');
}

test('the CBOR encoder gives RFC 8949 Appendix A\'s encodings', () => {
  const examples: Array<[Parameters<typeof encodeCbor>[0], string]> = [
    [0, '00'], [23, '17'], [24, '1818'], [100, '1864'], [1000, '1903e8'], [1000000, '1a000f4240'],
    [-1, '20'], [-10, '29'], [-100, '3863'], [-1000, '3903e7'],
    ['', '60'], ['a', '6161'], ['IETF', '6449455446'], ['\u00fc', '62c3bc'],
    [new Uint8Array(), '40'], [new Uint8Array([1, 2, 3, 4]), '4401020304'],
    [new Map(), 'a0'], [new Map([[1, 2], [3, 4]]), 'a201020304'],
  ];
  for (const [value, hex] of examples) assert.equal(encodeCbor(value).toString('hex'), hex, String(value));
});

describe('a software authenticator against tollgate.passkeys', () => {
  let t: TestTollgate;
  let ada: PasskeyAccount;
  let bob: PasskeyAccount;

  before(async () => {
    t = await startTestTollgate();
    const account = async (email: string, name: string) => ({ id: (await t.tollgate.accounts.create({ email, password: PASSWORD })).id, email, name });
    ada = await account('ada-swauth@example.test', 'Ada');
    bob = await account('bob-swauth@example.test', 'Bob');
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  /** A fresh authenticator with a passkey registered to `account`; its id. */
  const enrol = async (account: PasskeyAccount, options: { backupEligible?: boolean } = {}) => {
    const authenticator = new SoftwareAuthenticator({ origin: t.issuer, ...options });
    const response = await authenticator.create(await t.tollgate.passkeys.registrationOptions(account));
    const summary = await t.tollgate.passkeys.register(account.id, response, 'Software');
    return { authenticator, id: summary.id, summary };
  };

  test('registers a passkey, which then serves as the second factor, its counter growing by one each time', async () => {
    const { authenticator, id, summary } = await enrol(ada);
    assert.deepEqual([summary.name, summary.deviceType, summary.backedUp, summary.transports], ['Software', 'singleDevice', false, ['internal']]);
    assert.deepEqual(authenticator.credentialIds(), [id]);
    assert.deepEqual((await t.tollgate.passkeys.list(ada.id)).map((p) => p.id), [id]);

    for (let i = 0; i < 2; i += 1) {
      const options = await t.tollgate.passkeys.authenticationOptions({ accountId: ada.id });
      assert.deepEqual(options.allowCredentials?.map((c) => c.id), [id]);
      const result = await t.tollgate.passkeys.authenticate(await authenticator.get(options), { accountId: ada.id });
      assert.deepEqual(result, { accountId: ada.id, credentialId: id, userVerified: true, deviceType: 'singleDevice' });
    }
    const [stored] = await t.tollgate.passkeys.list(ada.id);
    assert.ok(stored?.lastUsedAt, 'last use recorded');
  });

  test('a synced passkey (backup eligible, backed up) is stored as multi-device', async () => {
    const { summary } = await enrol(bob, { backupEligible: true });
    assert.deepEqual([summary.deviceType, summary.backedUp], ['multiDevice', true]);
  });

  test('password-less: with no account named, the user handle finds the account', async () => {
    const { authenticator, id } = await enrol(bob);
    const options = await t.tollgate.passkeys.authenticationOptions();
    assert.deepEqual([options.allowCredentials ?? [], options.userVerification], [[], 'required']);
    const response = await authenticator.get(options);
    assert.equal(Buffer.from(response.response.userHandle!, 'base64url').toString('hex'), bob.id.replace(/-/g, ''));
    assert.deepEqual(await t.tollgate.passkeys.authenticate(response), { accountId: bob.id, credentialId: id, userVerified: true, deviceType: 'singleDevice' });
  });

  test('an authenticator already holding one of the account\'s passkeys refuses to make another (excludeCredentials)', async () => {
    const { authenticator } = await enrol(ada);
    await assert.rejects(authenticator.create(await t.tollgate.passkeys.registrationOptions(ada)), { name: 'InvalidStateError' });
    // Another account's registration is not affected.
    const other = await authenticator.create(await t.tollgate.passkeys.registrationOptions(bob));
    assert.equal((await t.tollgate.passkeys.register(bob.id, other)).name, 'Passkey');
  });

  test('a counter that does not grow is refused: counter', async () => {
    const { authenticator, id } = await enrol(ada);
    const options = () => t.tollgate.passkeys.authenticationOptions({ accountId: ada.id });
    await t.tollgate.passkeys.authenticate(await authenticator.get(await options(), { credentialId: id }), { accountId: ada.id });
    // A clone that lags: its next assertion carries the counter already seen.
    authenticator.setCounter(id, 0);
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(await authenticator.get(await options(), { credentialId: id }), { accountId: ada.id })), 'counter');
  });

  test('a ceremony run on another origin is refused: origin (registration and authentication)', async () => {
    const elsewhere = 'http://localhost:1';
    const authenticator = new SoftwareAuthenticator({ origin: t.issuer });
    const registration = await authenticator.create(await t.tollgate.passkeys.registrationOptions(bob), { origin: elsewhere });
    assert.equal(await refusal(t.tollgate.passkeys.register(bob.id, registration)), 'origin');

    const { authenticator: honest } = await enrol(bob);
    const options = await t.tollgate.passkeys.authenticationOptions({ accountId: bob.id });
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(await honest.get(options, { origin: elsewhere }), { accountId: bob.id })), 'origin');
  });

  test('an assertion signed for another RP ID is refused: rp_id', async () => {
    const { authenticator } = await enrol(bob);
    const options = await t.tollgate.passkeys.authenticationOptions({ accountId: bob.id });
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(await authenticator.get(options, { rpId: 'example.test' }), { accountId: bob.id })), 'rp_id');
  });

  test('user verification: required for registration and password-less, not for the second factor', async () => {
    const unverified = new SoftwareAuthenticator({ origin: t.issuer, userVerified: false });
    const registration = await unverified.create(await t.tollgate.passkeys.registrationOptions(ada));
    assert.equal(await refusal(t.tollgate.passkeys.register(ada.id, registration)), 'user_verification');

    const { authenticator } = await enrol(ada);
    const passwordless = await authenticator.get(await t.tollgate.passkeys.authenticationOptions(), { userVerified: false });
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(passwordless)), 'user_verification');
    // After a password, possession is the second factor: UV is welcome, not demanded.
    const options = await t.tollgate.passkeys.authenticationOptions({ accountId: ada.id });
    const secondFactor = await t.tollgate.passkeys.authenticate(await authenticator.get(options, { userVerified: false }), { accountId: ada.id });
    assert.equal(secondFactor.userVerified, false);
  });

  test('a signature by another key is refused: invalid', async () => {
    const { authenticator } = await enrol(ada);
    const options = await t.tollgate.passkeys.authenticationOptions({ accountId: ada.id });
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(await authenticator.get(options, { signWithAnotherKey: true }), { accountId: ada.id })), 'invalid');
  });

  test('another account\'s passkey answering this account\'s second-factor challenge is refused: wrong_account', async () => {
    const { authenticator: bobs } = await enrol(bob);
    const options = await t.tollgate.passkeys.authenticationOptions({ accountId: ada.id });
    // A tampering client that drops allowCredentials, so Bob's authenticator answers Ada's challenge.
    const response = await bobs.get({ ...options, allowCredentials: [] });
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(response, { accountId: ada.id })), 'wrong_account');
  });

  test('a replayed assertion is refused: challenge (spent on first use)', async () => {
    const { authenticator } = await enrol(bob);
    const response = await authenticator.get(await t.tollgate.passkeys.authenticationOptions());
    assert.equal((await t.tollgate.passkeys.authenticate(response)).accountId, bob.id);
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(response)), 'challenge');
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(structuredClone(response), { accountId: bob.id })), 'challenge');
  });

  test('a removed passkey signs in no more: unknown_credential', async () => {
    const { authenticator, id } = await enrol(bob);
    assert.equal(await t.tollgate.passkeys.remove(bob.id, id), true);
    const response = await authenticator.get(await t.tollgate.passkeys.authenticationOptions(), { credentialId: id });
    assert.equal(await refusal(t.tollgate.passkeys.authenticate(response)), 'unknown_credential');
  });
});

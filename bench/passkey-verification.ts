// npx tsx bench/passkey-verification.ts [--runs 2000]
//
// The server CPU of one passkey authentication verification (issue 16's
// closing note): a software authenticator (an ES256 key, as a platform
// authenticator's) signs assertions in the process; each is verified by
// @simplewebauthn/server exactly as server/mfa/passkeys.ts calls it
// (origin, RP ID, challenge, UV, signature, counter). Reports the median
// and p90 of process CPU time per verification, in µs, beside an ES256
// verify by node:crypto alone as the reference of the same run (the
// machine's speed drifts between hours). Storage (two queries) is not CPU
// of the verification and is left out.
import { createHash, createSign, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '2000' } } });
const runs = Number(values.runs);
const rpId = 'login.example.test';
const origin = `https://${rpId}`;

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = publicKey.export({ format: 'jwk' });
// COSE_Key (RFC 9053 §7.1): kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
const cose = isoCBOR.encode(new Map<number, number | Uint8Array>([
  [1, 2], [3, -7], [-1, 1], [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))], [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
]));
const credentialId = randomBytes(32).toString('base64url');

function assertion(counter: number) {
  const challenge = randomBytes(32).toString('base64url');
  const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }));
  const counterBytes = Buffer.alloc(4);
  counterBytes.writeUInt32BE(counter);
  // rpIdHash, flags UP|UV (0x05), counter (WebAuthn §6.1).
  const authData = Buffer.concat([createHash('sha256').update(rpId).digest(), Buffer.from([0x05]), counterBytes]);
  const signed = Buffer.concat([authData, createHash('sha256').update(clientData).digest()]);
  const signature = createSign('sha256').update(signed).sign(privateKey);
  return {
    challenge,
    response: {
      id: credentialId, rawId: credentialId, type: 'public-key' as const, clientExtensionResults: {},
      response: { clientDataJSON: clientData.toString('base64url'), authenticatorData: authData.toString('base64url'), signature: signature.toString('base64url') },
    },
  };
}

const cpuMicros = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start);
  return d.user + d.system;
};
const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, p90: sorted[Math.floor(sorted.length * 0.9)]! };
};

const passkey: number[] = [];
const reference: number[] = [];
const prepared = Array.from({ length: runs + 100 }, (_, i) => assertion(i + 1));
for (let i = 0; i < prepared.length; i += 1) {
  const { challenge, response } = prepared[i]!;
  const start = process.cpuUsage();
  const result = await verifyAuthenticationResponse({
    response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpId,
    credential: { id: credentialId, publicKey: cose, counter: i }, requireUserVerification: true,
  });
  const took = cpuMicros(start);
  if (!result.verified) throw new Error('the benchmark assertion did not verify');
  const data = Buffer.from(response.response.authenticatorData, 'base64url');
  const refStart = process.cpuUsage();
  createVerify('sha256').update(data).verify(publicKey, Buffer.from(response.response.signature, 'base64url'));
  const refTook = cpuMicros(refStart);
  if (i >= 100) { // the first 100 warm the JIT
    passkey.push(took);
    reference.push(refTook);
  }
}
const p = stats(passkey);
const r = stats(reference);
process.stdout.write(`passkey authentication verification: median ${p.median} µs, p90 ${p.p90} µs CPU (${runs} runs)\n`);
process.stdout.write(`reference, one ES256 verify by node:crypto: median ${r.median} µs, p90 ${r.p90} µs CPU\n`);

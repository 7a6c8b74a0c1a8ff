// A software WebAuthn authenticator for tests that run without a browser: a
// stand-in for a platform authenticator (and for the browser's side of the
// ceremony), so that Node can register and use passkeys against Tollgate's
// passkey service and pages. It is test support only, never a way to sign in.
//
// Written from the specifications, not from the verifier's code:
// - WebAuthn Level 3 §5.8.1 (CollectedClientData → clientDataJSON),
//   §6.1 (authenticator data: rpIdHash ‖ flags ‖ signCount ‖ attested
//   credential data §6.5.1), §6.5.4 (attestation object, here `fmt: "none"`
//   §8.7 with an empty attStmt), §6.3.3 (assertion signature over
//   authenticatorData ‖ SHA-256(clientDataJSON), ECDSA as ASN.1 DER §6.5.5);
// - the credential public key as a COSE_Key (RFC 9052 §7), EC2 on P-256 with
//   ES256 (RFC 9053 §2.1, §7.1.1), CBOR per RFC 8949 in CTAP2's canonical
//   order (the minimal encoder below is written from RFC 8949 §3, on purpose
//   not the CBOR library the verifier decodes with);
// and checked against @simplewebauthn/server (test/flows/passkeys-software-
// authenticator.test.ts), which is what Tollgate verifies with.
//
// Knobs for negative tests: another origin or RP ID per call, user
// verification per call, a counter set back (setCounter), a signature by
// another key.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';

// ---- A minimal CBOR encoder (RFC 8949 §3): what attestation objects and COSE keys need. ----

/** Maps keep their insertion order: give keys in CTAP2 canonical order (CTAP 2.1 §8 "CTAP2 canonical CBOR encoding form"). */
type Cbor = number | string | Uint8Array | Map<number | string, Cbor>;

/** The head of a data item (§3.1): major type and argument, the shortest form (§4.2.1 preferred serialisation). */
function head(major: number, argument: number): Buffer {
  if (!Number.isSafeInteger(argument) || argument < 0 || argument > 0xffff_ffff) throw new RangeError(`CBOR argument out of range: ${argument}`);
  if (argument < 24) return Buffer.from([(major << 5) | argument]);
  if (argument < 0x100) return Buffer.from([(major << 5) | 24, argument]);
  if (argument < 0x1_0000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(argument, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(argument, 1);
  return b;
}

export function encodeCbor(value: Cbor): Buffer {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError('only integers are encoded');
    // Major type 0: unsigned; 1: negative, argument -1 - n (§3.1).
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const parts: Buffer[] = [head(5, value.size)];
  for (const [k, v] of value) parts.push(encodeCbor(k), encodeCbor(v));
  return Buffer.concat(parts);
}

// ---- The authenticator. ----

/** COSE algorithm identifier of ES256 (RFC 9053 §2.1). */
const ES256 = -7;
/** Authenticator data flags (WebAuthn §6.1). */
const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;
/** Software authenticators have no certified model: an all-zero AAGUID, as with `none` attestation (§6.5.1, §8.7). */
const AAGUID = Buffer.alloc(16);

export interface SoftwareAuthenticatorOptions {
  /** The origin of the page the ceremony runs on, e.g. the issuer's (`http://localhost:PORT`). */
  readonly origin: string;
  /** Used when the options name none; defaults to the origin's host (WebAuthn §5.1.3, §5.1.4). */
  readonly rpId?: string;
  /** Whether it verifies the person (PIN, biometrics): the UV flag. */
  readonly userVerified?: boolean;
  /** A synced passkey (BE and BS flags, §6.1.3), as a password manager makes; otherwise bound to this authenticator. */
  readonly backupEligible?: boolean;
}

/** What one ceremony may do differently from an honest authenticator in an honest browser. */
export interface CeremonyOverrides {
  /** The origin written into clientDataJSON (a phishing page's). */
  readonly origin?: string;
  /** Sign for this RP ID whatever the options and the origin say (the client's own check skipped). */
  readonly rpId?: string;
  /** The UV flag for this ceremony. */
  readonly userVerified?: boolean;
}

export interface GetOverrides extends CeremonyOverrides {
  /** Use this credential (it must be one of ours); otherwise the first one the options allow. */
  readonly credentialId?: string;
  /** Sign with a freshly made key instead of the credential's: a forged or tampered assertion. */
  readonly signWithAnotherKey?: boolean;
  /** Leave the user handle out (WebAuthn §6.3.3 allows it for non-discoverable use). */
  readonly omitUserHandle?: boolean;
}

/** One credential the authenticator holds (a "public key credential source", WebAuthn §4), key material included. */
interface CredentialSource {
  readonly id: string;
  readonly rpId: string;
  /** user.id of the registration, base64url: the user handle of every assertion. */
  readonly userHandle: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  signCount: number;
}

/** What browsers throw (a DOMException of this name), so callers can test for `err.name`. */
function domError(name: 'InvalidStateError' | 'NotAllowedError' | 'NotSupportedError' | 'SecurityError', message: string): DOMException {
  return new DOMException(message, name);
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();
const b64u = (bytes: Buffer) => bytes.toString('base64url');

/** The credential public key as a COSE_Key (RFC 9052 §7.1, RFC 9053 §7.1.1), keys in canonical order 1, 3, -1, -2, -3. */
function coseKeyOf(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return encodeCbor(new Map<number, Cbor>([
    [1, 2], // kty: EC2
    [3, ES256], // alg
    [-1, 1], // crv: P-256
    [-2, Buffer.from(jwk.x!, 'base64url')],
    [-3, Buffer.from(jwk.y!, 'base64url')],
  ]));
}

export class SoftwareAuthenticator {
  readonly origin: string;
  readonly rpId: string;
  private readonly userVerified: boolean;
  private readonly backupEligible: boolean;
  private readonly credentials = new Map<string, CredentialSource>();

  constructor(options: SoftwareAuthenticatorOptions) {
    this.origin = new URL(options.origin).origin;
    this.rpId = options.rpId ?? new URL(options.origin).hostname;
    this.userVerified = options.userVerified ?? true;
    this.backupEligible = options.backupEligible ?? false;
  }

  /** The ids of the credentials it holds, oldest first. */
  credentialIds(): string[] {
    return [...this.credentials.keys()];
  }

  /** A credential's public key as the COSE_Key a relying party stores (base64url): to check it is never written where it should not be. */
  publicKeyOf(credentialId: string): string {
    return b64u(coseKeyOf(this.source(credentialId).publicKey));
  }

  /** Sets a credential's signature counter: the next assertion carries n + 1 (a cloned authenticator's lag). */
  setCounter(credentialId: string, n: number): void {
    this.source(credentialId).signCount = n;
  }

  /** Forgets a credential (the person deleted it from the device). */
  forget(credentialId: string): void {
    this.credentials.delete(credentialId);
  }

  /**
   * navigator.credentials.create() (WebAuthn §5.1.3) with authenticatorMakeCredential (§6.3.2): a
   * discoverable credential with a new P-256 key, `none` attestation, the JSON a browser's toJSON() gives.
   */
  async create(options: PublicKeyCredentialCreationOptionsJSON, overrides: CeremonyOverrides = {}): Promise<RegistrationResponseJSON> {
    const rpId = overrides.rpId ?? this.checkedRpId(options.rp.id);
    if (!options.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === ES256)) {
      throw domError('NotSupportedError', 'this authenticator makes ES256 credentials only');
    }
    // §6.3.2: an authenticator holding an excluded credential for this RP says so instead of making another.
    const excluded = new Set((options.excludeCredentials ?? []).map((c) => c.id));
    if ([...this.credentials.values()].some((c) => c.rpId === rpId && excluded.has(c.id))) {
      throw domError('InvalidStateError', 'the authenticator holds one of the excluded credentials');
    }
    const userVerified = this.uvFor(overrides, options.authenticatorSelection?.userVerification);

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = randomBytes(32);
    const source: CredentialSource = { id: b64u(id), rpId, userHandle: options.user.id, privateKey, publicKey, signCount: 0 };

    // Attested credential data (§6.5.1): aaguid ‖ L (2 bytes, big-endian) ‖ credentialId ‖ credentialPublicKey.
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const attested = Buffer.concat([AAGUID, idLength, id, coseKeyOf(publicKey)]);
    const authenticatorData = this.authenticatorData(rpId, FLAG.AT | this.flags(userVerified), source.signCount, attested);
    // §6.5.4: keys in canonical order ("fmt", "attStmt", "authData": shorter first).
    const attestationObject = encodeCbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authenticatorData]]));
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, overrides.origin);

    this.credentials.set(source.id, source);
    return {
      id: source.id,
      rawId: source.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
        // The L3 conveniences (§5.2.1): what a server without a CBOR decoder would read.
        authenticatorData: b64u(authenticatorData),
        publicKey: b64u(publicKey.export({ format: 'der', type: 'spki' })),
        publicKeyAlgorithm: ES256,
        transports: ['internal'],
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: options.extensions?.credProps ? { credProps: { rk: true } } : {},
    };
  }

  /**
   * navigator.credentials.get() (WebAuthn §5.1.4) with authenticatorGetAssertion (§6.3.3): one of the
   * allowed credentials, or with no allowCredentials any discoverable one for the RP ID; the counter grows by 1.
   */
  async get(options: PublicKeyCredentialRequestOptionsJSON, overrides: GetOverrides = {}): Promise<AuthenticationResponseJSON> {
    const rpId = overrides.rpId ?? this.checkedRpId(options.rpId);
    const allowed = options.allowCredentials?.length ? new Set(options.allowCredentials.map((c) => c.id)) : undefined;
    const candidates = [...this.credentials.values()].filter((c) => (overrides.rpId !== undefined || c.rpId === rpId) && (!allowed || allowed.has(c.id)));
    const source = overrides.credentialId === undefined ? candidates[0] : candidates.find((c) => c.id === overrides.credentialId);
    // §6.3.3: none to offer; the browser says NotAllowedError and nothing more (no probing for credentials).
    if (!source) throw domError('NotAllowedError', 'no credential of this authenticator is allowed for this request');

    const userVerified = this.uvFor(overrides, options.userVerification);
    source.signCount += 1;
    const authenticatorData = this.authenticatorData(rpId, this.flags(userVerified), source.signCount);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, overrides.origin);
    const key = overrides.signWithAnotherKey ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : source.privateKey;
    // ES256: ECDSA over SHA-256, the signature ASN.1 DER-encoded (§6.5.5), which is node:crypto's default form.
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), key);
    return {
      id: source.id,
      rawId: source.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authenticatorData),
        signature: b64u(signature),
        ...(overrides.omitUserHandle ? {} : { userHandle: source.userHandle }),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }

  private source(credentialId: string): CredentialSource {
    const source = this.credentials.get(credentialId);
    if (!source) throw new Error(`no credential ${credentialId} in this authenticator`);
    return source;
  }

  /** The client's check (§5.1.3, §5.1.4): the RP ID must be the origin's host or a registrable suffix of it. */
  private checkedRpId(requested: string | undefined): string {
    const rpId = requested ?? this.rpId;
    const host = new URL(this.origin).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) throw domError('SecurityError', `the RP ID ${rpId} is not valid for ${this.origin}`);
    return rpId;
  }

  /** An authenticator that can verify the person does so when asked (required or preferred), §6.3.2. */
  private uvFor(overrides: CeremonyOverrides, requirement: string | undefined): boolean {
    if (overrides.userVerified !== undefined) return overrides.userVerified;
    return this.userVerified && requirement !== 'discouraged';
  }

  private flags(userVerified: boolean): number {
    return FLAG.UP | (userVerified ? FLAG.UV : 0) | (this.backupEligible ? FLAG.BE | FLAG.BS : 0);
  }

  /** §6.1: SHA-256(rpId) ‖ flags ‖ signCount (4 bytes, big-endian) ‖ attested credential data, if any. */
  private authenticatorData(rpId: string, flags: number, signCount: number, attested?: Buffer): Buffer {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(signCount);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), counter, ...(attested ? [attested] : [])]);
  }

  /** §5.8.1: the JSON-compatible serialisation of CollectedClientData, members in the specified order (§5.8.1.1). */
  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
  }
}

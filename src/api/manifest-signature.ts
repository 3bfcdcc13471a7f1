/**
 * Owner signatures on a successor Manifest. A signature is a JWS (RFC 7515) in compact
 * serialisation with a detached payload (`header..signature`): the payload is the successor's
 * canonical hash as the 64 hex characters `status.hash` holds, and the protected header names the
 * hash of the Manifest it replaces (`attestor.dev/replaces`, listed in `crit`), so a signature
 * approves one transition and cannot be replayed to bring back a Manifest the owners once
 * approved elsewhere. Owner keys are JWKs: EC P-256 (ES256), P-384 (ES384) or Ed25519 (EdDSA).
 *
 * Verification is synchronous (node:crypto), so the active-Manifest rule stays a pure function
 * that the webhook can call on every request; signing uses jose, and the tests check that the two
 * agree and that JWSs made by other tools verify.
 */
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import * as jose from 'jose';

export const SIGNATURE_ANNOTATION = 'attestor.dev/signature';
export const REPLACES_HEADER = 'attestor.dev/replaces';
/** More signatures than this in one annotation are not read (each costs a verification). */
export const MAX_SIGNATURES = 16;

/** A public key that may sign successors of the Manifest listing it (spec.owners[]). */
export interface OwnerKey {
  /** Who holds the key, shown in status and events. */
  name?: string;
  kty: 'EC' | 'OKP';
  crv: 'P-256' | 'P-384' | 'Ed25519';
  x: string;
  y?: string;
}

interface Curve {
  kty: OwnerKey['kty'];
  algs: readonly string[];
  /** The signing alg, and the digest node:crypto verifies with (null: EdDSA hashes itself). */
  sign: string;
  digest: string | null;
  signatureBytes: number;
  coordinateChars: number;
}

export const OWNER_CURVES: Readonly<Record<OwnerKey['crv'], Curve>> = {
  'P-256': { kty: 'EC', algs: ['ES256'], sign: 'ES256', digest: 'sha256', signatureBytes: 64, coordinateChars: 43 },
  'P-384': { kty: 'EC', algs: ['ES384'], sign: 'ES384', digest: 'sha384', signatureBytes: 96, coordinateChars: 64 },
  // RFC 8037 names it EdDSA; RFC 9864's fully specified name is Ed25519. Both mean the same.
  Ed25519: {
    kty: 'OKP',
    algs: ['EdDSA', 'Ed25519'],
    sign: 'EdDSA',
    digest: null,
    signatureBytes: 64,
    coordinateChars: 43,
  },
};

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HASH = /^[0-9a-f]{64}$/;

/** The signatures an annotation holds: compact JWSs separated by newlines, commas or spaces. */
export function splitSignatures(annotation: string | undefined): string[] {
  return (annotation ?? '').split(/[\s,]+/).filter((s) => s.length > 0);
}

/** RFC 7638 thumbprint (SHA-256, base64url): the `kid` signatures carry and messages name. */
export function ownerThumbprint(owner: OwnerKey): string {
  // Required members only, in lexicographic order, no whitespace.
  const members =
    owner.kty === 'EC'
      ? { crv: owner.crv, kty: owner.kty, x: owner.x, y: owner.y }
      : { crv: owner.crv, kty: owner.kty, x: owner.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** `alice (kid …)`, or the thumbprint alone for an unnamed key. */
export function ownerLabel(owner: OwnerKey): string {
  const kid = ownerThumbprint(owner);
  return owner.name ? `${owner.name} (kid ${kid})` : `kid ${kid}`;
}

/** Why a JWK cannot be an owner key, or undefined when it can (the point is on its curve). */
export function ownerKeyProblem(owner: OwnerKey): string | undefined {
  const curve = OWNER_CURVES[owner.crv];
  if (!curve) return `crv ${owner.crv} is not one of ${Object.keys(OWNER_CURVES).join(', ')}`;
  if (owner.kty !== curve.kty) return `crv ${owner.crv} needs kty ${curve.kty}`;
  const coordinates = curve.kty === 'EC' ? [owner.x, owner.y] : [owner.x];
  if (curve.kty === 'OKP' && owner.y !== undefined) return `an ${owner.crv} key has no y`;
  for (const c of coordinates)
    if (typeof c !== 'string' || c.length !== curve.coordinateChars || !BASE64URL.test(c))
      return `${owner.crv} coordinates are ${curve.coordinateChars} base64url characters`;
  try {
    publicKeyOf(owner);
  } catch (err) {
    return `not a valid ${owner.crv} public key: ${(err as Error).message}`;
  }
  return undefined;
}

// Importing a key costs more than a signature check; owner lists are few and small.
const publicKeys = new Map<string, KeyObject | Error>();

function publicKeyOf(owner: OwnerKey): KeyObject {
  const id = `${owner.kty} ${owner.crv} ${owner.x} ${owner.y ?? ''}`;
  let key = publicKeys.get(id);
  if (key === undefined) {
    const jwk: Record<string, string> = { kty: owner.kty, crv: owner.crv, x: owner.x };
    if (owner.y !== undefined) jwk.y = owner.y;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      key = err instanceof Error ? err : new Error(String(err));
    }
    if (publicKeys.size >= 1024) publicKeys.clear();
    publicKeys.set(id, key);
  }
  if (key instanceof Error) throw key;
  return key;
}

export interface SignatureExpectation {
  /** The successor's canonical hash: the detached payload. */
  hash: string;
  /** The canonical hash of the Manifest it replaces: the `attestor.dev/replaces` header. */
  replaces: string;
  owners: readonly OwnerKey[];
}

export type SignatureCheck = { owner: OwnerKey } | { problem: string };

/** Whether `jws` is a signature by one of `owners` approving `replaces` -> `hash`. */
export function checkOwnerSignature(jws: string, expected: SignatureExpectation): SignatureCheck {
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p)))
    return { problem: 'not a compact JWS (three base64url parts separated by dots)' };
  const [encodedHeader, payload, encodedSignature] = parts as [string, string, string];
  if (payload !== '') return { problem: 'the payload must be detached (header..signature)' };
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'));
  } catch {
    return { problem: 'the protected header is not JSON' };
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return { problem: 'the protected header is not a JSON object' };
  const crit = header.crit;
  if (!Array.isArray(crit) || crit.length !== 1 || crit[0] !== REPLACES_HEADER)
    return { problem: `the protected header must list exactly "${REPLACES_HEADER}" in crit` };
  if ('b64' in header) return { problem: 'unencoded payloads (b64) are not accepted' };
  const replaces = header[REPLACES_HEADER];
  if (typeof replaces !== 'string' || !HASH.test(replaces))
    return { problem: `the protected header has no "${REPLACES_HEADER}" hash` };
  if (replaces !== expected.replaces)
    return { problem: `it approves replacing Manifest ${replaces}, not ${expected.replaces}` };
  const alg = header.alg;
  if (typeof alg !== 'string') return { problem: 'the protected header has no alg' };
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  // The kid is a hint, not trusted: it only saves trying every owner.
  const byKid = kid ? expected.owners.filter((o) => ownerThumbprint(o) === kid) : [];
  const owners = byKid.length > 0 ? byKid : expected.owners;
  const signingInput = Buffer.from(`${encodedHeader}.${Buffer.from(expected.hash).toString('base64url')}`);
  const signature = Buffer.from(encodedSignature, 'base64url');
  let algFits = false;
  for (const owner of owners) {
    const curve = OWNER_CURVES[owner.crv];
    if (!curve?.algs.includes(alg)) continue;
    algFits = true;
    if (signature.length !== curve.signatureBytes) continue;
    let key: KeyObject;
    try {
      key = publicKeyOf(owner);
    } catch {
      continue;
    }
    const ok =
      curve.digest === null
        ? verify(null, signingInput, key, signature)
        : verify(curve.digest, signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature);
    if (ok) return { owner };
  }
  if (!algFits) return { problem: `signed with ${alg}${kid ? ` (kid ${kid})` : ''}, which no owner key uses` };
  if (byKid.length > 0)
    return { problem: `the key of owner ${ownerLabel(byKid[0]!)} does not verify it over hash ${expected.hash}` };
  return {
    problem: `no owner key verifies it over hash ${expected.hash}${kid ? ` (its kid ${kid} is no owner's)` : ''}`,
  };
}

/** The JWS algorithm a private or public key signs with, or undefined for keys owners cannot use. */
export function signingAlg(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return OWNER_CURVES.Ed25519.sign;
  if (type !== 'ec') return undefined;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return OWNER_CURVES['P-256'].sign;
  if (curve === 'secp384r1') return OWNER_CURVES['P-384'].sign;
  return undefined;
}

/** The owner entry for a key (its public half), for spec.owners. */
export function ownerKeyOf(key: KeyObject, name?: string): OwnerKey {
  if (!signingAlg(key)) throw new Error('owner keys are EC P-256, EC P-384 or Ed25519');
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' }) as OwnerKey;
  const owner: OwnerKey = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (jwk.y !== undefined) owner.y = jwk.y;
  return name ? { name, ...owner } : owner;
}

/** Signs the transition `replaces` -> `hash` with an owner's private key: a detached compact JWS. */
export async function signSuccessor(
  privateKey: KeyObject,
  transition: { hash: string; replaces: string },
): Promise<string> {
  const alg = signingAlg(privateKey);
  if (!alg) throw new Error('owner keys are EC P-256, EC P-384 or Ed25519');
  if (privateKey.type !== 'private') throw new Error('signing needs the private key');
  for (const [field, value] of Object.entries(transition))
    if (!HASH.test(value)) throw new Error(`${field} must be a canonical Manifest hash (64 lower-case hex characters)`);
  const jws = await new jose.CompactSign(new TextEncoder().encode(transition.hash))
    .setProtectedHeader({
      alg,
      kid: ownerThumbprint(ownerKeyOf(privateKey)),
      crit: [REPLACES_HEADER],
      [REPLACES_HEADER]: transition.replaces,
    })
    .sign(privateKey, { crit: { [REPLACES_HEADER]: true } });
  const [header, , signature] = jws.split('.');
  return `${header}..${signature}`;
}

/**
 * Activation grants as both sides see them: short-lived JWTs (ES256) that the Coordinator signs
 * after it accepted a node's evidence (coordinator/grant-signer.ts), bound to the node, the GPUs,
 * the evidence and the agent's key. The agent verifies one against the Coordinator's /v1/jwks
 * before it touches the GPUs; the Coordinator verifies one again before it records an activation.
 */
import { isDeepStrictEqual } from 'node:util';
import * as jose from 'jose';

export const GRANT_ISSUER = 'attestor-coordinator';
export const GRANT_AUDIENCE = 'attestor-agent';
/** The JWT `typ` header of a grant. */
export const GRANT_TYPE = 'attestor-grant+jwt';

/** Claims of an activation grant (a JWT signed by the Coordinator). */
export interface GrantClaims {
  iss: string;
  aud: string;
  sub: string; // node name
  jti: string;
  iat: number;
  exp: number;
  /** UUIDs of the GPUs the grant allows to activate. */
  gpus: string[];
  /** SHA-256 of the evidence the grant was issued for (hex). */
  evidence: string;
  /** Hash of the Manifest the evidence was appraised against. */
  manifest: string;
  /** Confirmation: the agent key's JWK thumbprint (RFC 7638). */
  cnf: { jkt: string };
}

/**
 * How far the clock of an agent (or `attestor init`) may be from the Coordinator's when it checks a
 * grant's lifetime (docs/design.md, "Clock skew between agents and the Coordinator"). Only the
 * receiver's check is lenient: the Coordinator checks the grant again on its own clock, with no
 * tolerance, when the read-back redeems it, and that check decides.
 */
export const GRANT_RECEIVER_CLOCK_SKEW_SECONDS = 300;

/**
 * Verifies a grant against a JWK Set; throws (jose errors) when it is not valid at `now`, give or
 * take `clockToleranceSeconds` (0: the Coordinator's own check).
 */
export async function verifyGrant(
  token: string,
  keys: jose.JWTVerifyGetKey,
  now: Date,
  clockToleranceSeconds = 0,
): Promise<GrantClaims> {
  const { payload } = await jose.jwtVerify(token, keys, {
    issuer: GRANT_ISSUER,
    audience: GRANT_AUDIENCE,
    algorithms: ['ES256'],
    typ: GRANT_TYPE,
    currentDate: now,
    clockTolerance: clockToleranceSeconds,
    requiredClaims: ['sub', 'jti', 'exp', 'iat'],
  });
  const claims = payload as unknown as GrantClaims;
  if (
    !Array.isArray(claims.gpus) ||
    typeof claims.evidence !== 'string' ||
    typeof claims.manifest !== 'string' ||
    typeof claims.cnf?.jkt !== 'string'
  ) {
    throw new Error('grant lacks gpus, evidence, manifest or cnf claims');
  }
  return claims;
}

/** What an agent expects of a grant for the evidence it submitted. */
export interface GrantExpectation {
  node: string;
  gpus: readonly string[];
  /** evidenceDigest() of the submitted request. */
  evidence: string;
  agentKeyThumbprint: string;
}

/** Why a verified grant is not one for this node, these GPUs, this evidence and this key; undefined when it is. */
export function grantMismatch(claims: GrantClaims, expected: GrantExpectation): string | undefined {
  if (claims.sub !== expected.node) return `the grant is for node ${claims.sub}`;
  if (!isDeepStrictEqual([...claims.gpus].sort(), [...expected.gpus].sort()))
    return `the grant names GPUs ${claims.gpus.join(',')}, not ${expected.gpus.join(',')}`;
  if (claims.evidence !== expected.evidence) return 'the grant was issued for other evidence';
  if (claims.cnf.jkt !== expected.agentKeyThumbprint) return 'the grant is bound to another key';
  return undefined;
}

/**
 * The agent's check of a grant before it touches the GPUs: signed by the Coordinator (its JWKS),
 * current on the agent's clock give or take the skew it tolerates (the Coordinator's clock decides
 * at redemption), and for this node, these GPUs, this evidence and this agent key. Undefined when
 * it holds, else why not.
 */
import * as jose from 'jose';
import { errorMessage } from '../errors.ts';
import { GRANT_RECEIVER_CLOCK_SKEW_SECONDS, type GrantClaims, grantMismatch, verifyGrant } from '../protocol/grant.ts';
import { JWKS_PATH } from '../protocol/messages.ts';
import type { CoordinatorClient } from './coordinator-client.ts';

export interface GrantExpectation {
  node: string;
  gpus: string[];
  /** evidenceDigest() of what the agent submitted. */
  evidence: string;
  agentKeyThumbprint: string;
  now: Date;
}

export async function checkGrant(
  client: CoordinatorClient,
  token: string,
  expected: GrantExpectation,
  /** Where the signing keys are: the node grants' /v1/jwks, or the workload grants' /v1/workload/jwks. */
  jwksPath = JWKS_PATH,
): Promise<string | undefined> {
  let claims: GrantClaims;
  try {
    const jwks = await client.get<{ keys: jose.JWK[] }>(jwksPath);
    claims = await verifyGrant(token, jose.createLocalJWKSet(jwks), expected.now, GRANT_RECEIVER_CLOCK_SKEW_SECONDS);
  } catch (err) {
    return `grant signature or lifetime: ${errorMessage(err)}`;
  }
  const { now: _now, ...names } = expected;
  return grantMismatch(claims, names);
}

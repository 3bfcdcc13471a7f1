/**
 * Signs activation grants (src/protocol/grant.ts: the claims, and how both sides verify them)
 * with a key made when this Coordinator starts leading; GET /v1/jwks serves its public half.
 */
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { GRANT_AUDIENCE, GRANT_ISSUER, GRANT_TYPE, type GrantClaims, verifyGrant } from '../protocol/grant.ts';

export interface GrantRequest {
  node: string;
  gpus: string[];
  evidence: string;
  manifest: string;
  agentKeyThumbprint: string;
  ttlSeconds: number;
  now: Date;
}

export class GrantSigner {
  readonly #privateKey: jose.CryptoKey;
  readonly #publicJwk: jose.JWK;
  readonly #kid: string;

  private constructor(privateKey: jose.CryptoKey, publicJwk: jose.JWK, kid: string) {
    this.#privateKey = privateKey;
    this.#publicJwk = publicJwk;
    this.#kid = kid;
  }

  static async create(): Promise<GrantSigner> {
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
    const jwk = await jose.exportJWK(publicKey);
    const kid = await jose.calculateJwkThumbprint(jwk);
    return new GrantSigner(privateKey, { ...jwk, kid, alg: 'ES256', use: 'sig' }, kid);
  }

  /** The public keys, as GET /v1/jwks serves them. */
  get jwks(): { keys: jose.JWK[] } {
    return { keys: [this.#publicJwk] };
  }

  async sign(request: GrantRequest): Promise<{ token: string; claims: GrantClaims }> {
    const iat = Math.floor(request.now.getTime() / 1000);
    const claims: GrantClaims = {
      iss: GRANT_ISSUER,
      aud: GRANT_AUDIENCE,
      sub: request.node,
      jti: randomUUID(),
      iat,
      exp: iat + request.ttlSeconds,
      gpus: request.gpus,
      evidence: request.evidence,
      manifest: request.manifest,
      cnf: { jkt: request.agentKeyThumbprint },
    };
    const token = await new jose.SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: this.#kid, typ: GRANT_TYPE })
      .sign(this.#privateKey);
    return { token, claims };
  }

  /** Verifies a grant this signer issued; throws (jose errors) when it is not valid at `now`. */
  async verify(token: string, now: Date): Promise<GrantClaims> {
    return verifyGrant(token, jose.createLocalJWKSet(this.jwks), now);
  }
}

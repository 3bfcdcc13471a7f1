/**
 * The agent's ephemeral key: made once per process, in memory only. REPORT_DATA binds its SPKI, a
 * grant names its thumbprint, and it signs the activation report, so only the CVM whose evidence
 * bound it can claim an activation.
 */
import * as jose from 'jose';

export interface AgentKey {
  privateKey: jose.CryptoKey;
  publicJwk: jose.JWK;
  spkiDer: Uint8Array;
  thumbprint: string;
}

export async function createAgentKey(): Promise<AgentKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const publicJwk = await jose.exportJWK(publicKey);
  const spkiPem = await jose.exportSPKI(publicKey);
  const spkiDer = new Uint8Array(Buffer.from(spkiPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  return { privateKey, publicJwk, spkiDer, thumbprint: await jose.calculateJwkThumbprint(publicJwk) };
}

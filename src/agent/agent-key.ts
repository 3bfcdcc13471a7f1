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

/**
 * A new P-256 key. `extractable` only for `attestor init`, which writes its key (the workload
 * certificate's) to the pod's memory-backed volume; the node agent's never leaves its process.
 */
export async function createAgentKey(options: { extractable?: boolean } = {}): Promise<AgentKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: options.extractable ?? false });
  return agentKeyFrom(privateKey, publicKey);
}

/** The AgentKey of an existing key pair (`attestor init --renew` reads the pod's key from its volume). */
export async function agentKeyFrom(privateKey: jose.CryptoKey, publicKey: jose.CryptoKey): Promise<AgentKey> {
  const publicJwk = await jose.exportJWK(publicKey);
  const spkiPem = await jose.exportSPKI(publicKey);
  const spkiDer = new Uint8Array(Buffer.from(spkiPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  return { privateKey, publicJwk, spkiDer, thumbprint: await jose.calculateJwkThumbprint(publicJwk) };
}

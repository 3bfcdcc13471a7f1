/**
 * The node agent: asks the Coordinator for a nonce, collects CVM evidence whose REPORT_DATA
 * binds that nonce and the agent's own key, and one report per GPU with the same nonce, submits
 * them, and activates the GPUs through NVML only with a grant it verified: signed by the
 * Coordinator, for this node, these GPUs, this evidence and this key. It reports the ready state
 * it read back, signed with its key. A refusal deactivates the GPUs (fail closed).
 */
import { isDeepStrictEqual } from 'node:util';
import * as jose from 'jose';
import { verifyGrant } from '../coordinator/grants.ts';
import { ACTIVATE_PATH, ATTEST_PATH, evidenceDigest, JWKS_PATH, NONCE_PATH, reportDataFor, type ActivationReport, type ActivationResponse, type AttestResponse, type EvidenceRequest, type NonceResponse } from '../coordinator/protocol.ts';
import type { Logger } from '../observability/log.ts';
import type { CoordinatorClient } from './coordinator-client.ts';
import type { CvmEvidenceSource, GpuControl } from './evidence/source.ts';

export interface AgentOptions {
  nodeName: string;
  client: CoordinatorClient;
  cvm: CvmEvidenceSource;
  gpus: GpuControl;
  log: Logger;
  now?: () => Date;
}

export type AttestOutcome =
  | { accepted: true; activated: boolean; gpus: string[]; reattestAfterMs: number; reason?: string }
  | { accepted: false; reasons: string[]; reattestAfterMs: number };

interface AgentKey {
  privateKey: jose.CryptoKey;
  publicJwk: jose.JWK;
  spkiDer: Uint8Array;
  thumbprint: string;
}

const RETRY_AFTER_REFUSAL_MS = 60_000;

export class NodeAgent {
  readonly #options: AgentOptions;
  readonly #log: Logger;
  #key: AgentKey | undefined;
  #last: AttestOutcome | undefined;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'agent', node: options.nodeName });
  }

  get lastOutcome(): AttestOutcome | undefined {
    return this.#last;
  }

  /** One round: nonce, evidence, grant, activation. Throws on transport or device errors. */
  async attestOnce(): Promise<AttestOutcome> {
    const { client, cvm, gpus } = this.#options;
    const now = this.#options.now ?? (() => new Date());
    const key = await this.#agentKey();
    const { nonce } = (await client.post<NonceResponse>(NONCE_PATH, {})).body;
    const nonceBytes = new Uint8Array(Buffer.from(nonce, 'hex'));
    const cvmEvidence = await cvm.collect(reportDataFor(nonceBytes, key.spkiDer));
    const gpuEvidence = await gpus.collect(nonceBytes);
    const request: EvidenceRequest = {
      nonce,
      agentKey: key.publicJwk as Record<string, unknown>,
      cvm: { platform: cvmEvidence.platform, report: b64(cvmEvidence.report), ...(cvmEvidence.auxblob?.length ? { auxblob: b64(cvmEvidence.auxblob) } : {}) },
      gpus: gpuEvidence.map((g) => ({ uuid: g.uuid, report: b64(g.report), certificateChain: g.certificateChainPem })),
    };
    const { body: answer } = await client.post<AttestResponse>(ATTEST_PATH, request, [403]);
    if (!answer.accepted) {
      this.#log.warn({ reasons: answer.reasons }, 'the Coordinator refused the evidence');
      if (await gpus.gpusReady()) {
        await gpus.setGpusReady(false);
        this.#log.warn('GPUs set not ready: this node is no longer attested');
      }
      this.#last = { accepted: false, reasons: answer.reasons, reattestAfterMs: RETRY_AFTER_REFUSAL_MS };
      return this.#last;
    }

    const uuids = gpuEvidence.map((g) => g.uuid);
    const problem = await this.#checkGrant(answer.grant, uuids, evidenceDigest(request), key, now());
    if (problem) {
      // A grant we cannot verify is no grant: do not touch the GPUs.
      this.#log.error({ problem }, 'refusing to activate: the grant is not valid');
      this.#last = { accepted: true, activated: false, gpus: uuids, reattestAfterMs: RETRY_AFTER_REFUSAL_MS, reason: problem };
      return this.#last;
    }
    await gpus.setGpusReady(true);
    const ready = await gpus.gpusReady();
    const report: ActivationReport = { grant: answer.grant, gpusReady: ready, gpus: uuids };
    const jws = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(report))).setProtectedHeader({ alg: 'ES256', typ: 'attestor-activation+jws' }).sign(key.privateKey);
    const { body: activation } = await client.post<ActivationResponse>(ACTIVATE_PATH, { report: jws }, [403]);
    const reattestAfterMs = answer.reattestAfterSeconds * 1000;
    if (!activation.activated) {
      this.#log.error({ reason: activation.reason }, 'the Coordinator did not record the activation');
      this.#last = { accepted: true, activated: false, gpus: uuids, reattestAfterMs: Math.min(reattestAfterMs, RETRY_AFTER_REFUSAL_MS), reason: activation.reason };
      return this.#last;
    }
    this.#log.info({ gpus: uuids.length, manifest: answer.manifestHash }, 'attested; GPUs activated');
    this.#last = { accepted: true, activated: true, gpus: uuids, reattestAfterMs };
    return this.#last;
  }

  /** Attests until the signal aborts: again after the interval the Coordinator asks for, with backoff on errors. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let wait: number;
      try {
        wait = (await this.attestOnce()).reattestAfterMs;
        failures = 0;
      } catch (err) {
        wait = Math.min(1000 * 2 ** failures, 60_000);
        failures++;
        this.#log.warn({ err: (err as Error).message, retryInMs: wait }, 'attestation round failed');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }

  async #checkGrant(token: string, uuids: string[], evidence: string, key: AgentKey, now: Date): Promise<string | undefined> {
    let claims;
    try {
      const jwks = await this.#options.client.get<{ keys: jose.JWK[] }>(JWKS_PATH);
      claims = await verifyGrant(token, jose.createLocalJWKSet(jwks), now);
    } catch (err) {
      return `grant signature or lifetime: ${(err as Error).message}`;
    }
    if (claims.sub !== this.#options.nodeName) return `the grant is for node ${claims.sub}`;
    if (!isDeepStrictEqual([...claims.gpus].sort(), [...uuids].sort())) return `the grant names GPUs ${claims.gpus.join(',')}, not ${uuids.join(',')}`;
    if (claims.evidence !== evidence) return 'the grant was issued for other evidence';
    if (claims.cnf.jkt !== key.thumbprint) return 'the grant is bound to another key';
    return undefined;
  }

  async #agentKey(): Promise<AgentKey> {
    if (this.#key) return this.#key;
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
    const publicJwk = await jose.exportJWK(publicKey);
    const spkiPem = await jose.exportSPKI(publicKey);
    const spkiDer = new Uint8Array(Buffer.from(spkiPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
    this.#key = { privateKey, publicJwk, spkiDer, thumbprint: await jose.calculateJwkThumbprint(publicJwk) };
    return this.#key;
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

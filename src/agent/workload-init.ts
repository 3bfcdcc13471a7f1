/**
 * `attestor init`: in a pod-CVM AI worker pod, before the model server starts. It generates a
 * P-256 key; asks the Coordinator for a nonce; collects the pod VM's own CVM evidence with
 * REPORT_DATA = SHA-512(nonce ‖ SHA-256(SPKI)) and one NVIDIA report per GPU in the pod (the same
 * nonce); submits them; on a grant it checked (signed by the Coordinator, for this pod, these
 * GPUs, this evidence, this key) it activates the GPUs through NVML inside the pod and reports
 * the read-back, signed with the key; then it receives the workload certificate for that key and
 * writes mesh-ca.pem, cert.pem and key.pem (0400) to the memory-backed volume the pod's other
 * containers share. The key never leaves the pod.
 *
 * In a confidential-node pod (`--confidential-node`) there is no evidence of the pod's own: after
 * the nonce, the node agent (which attested the node's CVM and GPUs and activated them)
 * countersigns the pod's key, given the pod's token for it and a proof of possession, and the
 * countersignature goes to POST /v1/workload/countersigned for the certificate.
 *
 * Renewal (`attestor init --renew`, a sidecar mode of the same command) keeps the key, and gets a
 * new certificate with fresh evidence before the old one expires, or at once when the Coordinator's
 * mesh CA changes (a new Manifest): from the new mesh CA, or none if the pod no longer complies
 * (then cert.pem is removed and the GPUs are set not ready: fail closed).
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import * as x509 from '@peculiar/x509';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { signActivationReport } from '../protocol/activation-report.ts';
import {
  COUNTERSIGN_PATH,
  type CountersignedRequest,
  type CountersignRequest,
  type CountersignResponse,
  signProof,
  WORKLOAD_COUNTERSIGNED_PATH,
} from '../protocol/countersignature.ts';
import { encodeEvidenceRequest, evidenceDigest, reportDataFor } from '../protocol/evidence-request.ts';
import type { NonceResponse } from '../protocol/messages.ts';
import {
  WORKLOAD_ACTIVATE_PATH,
  WORKLOAD_ATTEST_PATH,
  WORKLOAD_JWKS_PATH,
  WORKLOAD_MESH_CA_PATH,
  WORKLOAD_NONCE_PATH,
  type WorkloadAttestResponse,
  type WorkloadCertificateResponse,
  type WorkloadMeshCaResponse,
  workloadSubject,
} from '../protocol/workload.ts';
import { type AgentKey, createAgentKey } from './agent-key.ts';
import {
  CERTIFICATE_FILE,
  MESH_CA_FILE,
  readKey,
  readText,
  removeCertificate,
  writeCertificate,
  writeKey,
} from './certificate-files.ts';
import type { CoordinatorClient, CoordinatorHttpError } from './coordinator-client.ts';
import type { CvmEvidenceSource, GpuControl } from './evidence/source.ts';
import { checkGrant } from './grant-check.ts';
import { sleep } from './sleep.ts';

export interface WorkloadInitOptions {
  /** This pod (the downward API's POD_NAMESPACE and POD_NAME). */
  pod: { namespace: string; name: string };
  /** The Coordinator, with the pod's projected token (audience attestor-workload). */
  client: CoordinatorClient;
  /** The pod VM's own evidence (configfs-tsm inside the pod VM); pod-CVM mode only. */
  cvm?: CvmEvidenceSource;
  /**
   * Confidential-node mode: no evidence of the pod's own; its node's agent countersigns its key
   * (the agent attested the node's CVM and GPUs and activated them).
   */
  node?: NodeAgentEndpoint;
  /** The pod's GPUs (NVML); absent: a pod without GPUs. */
  gpus?: GpuControl;
  /** The shared volume: mesh-ca.pem, cert.pem, key.pem. */
  out: string;
  log: Logger;
  now?: () => Date;
}

/** The node agent on the pod's node, and the pod's token for it (audience attestor-node-agent). */
export interface NodeAgentEndpoint {
  /** e.g. http://<status.hostIP>:8444 */
  url: string;
  token: () => Promise<string>;
}

export type CertifyOutcome =
  | { certified: true; notAfter: Date; renewAfterMs: number; manifestHash: string; meshCa: string }
  | { certified: false; reasons: string[] };

/** After a refusal, try again this much later (the Manifest or the pod may change). */
const RETRY_AFTER_REFUSAL_MS = 60_000;
/** How often renewal asks whether the mesh CA changed. */
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;

export class WorkloadInit {
  readonly #options: WorkloadInitOptions;
  readonly #log: Logger;
  #key: AgentKey | undefined;
  #last: CertifyOutcome | undefined;

  constructor(options: WorkloadInitOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'init', pod: `${options.pod.namespace}/${options.pod.name}` });
  }

  get lastOutcome(): CertifyOutcome | undefined {
    return this.#last;
  }

  /** One round with fresh evidence: nonce, evidence, grant, activation, certificate, files. Throws on transport or device errors. */
  async certify(): Promise<CertifyOutcome> {
    if (this.#options.node) return this.#certifyOnNode(this.#options.node);
    const { client, cvm, gpus, pod } = this.#options;
    if (!cvm) throw new Error('pod-CVM mode needs the pod VM evidence source');
    const key = await this.#workloadKey();
    const { nonce } = (await client.post<NonceResponse>(WORKLOAD_NONCE_PATH, {})).body;
    const nonceBytes = new Uint8Array(Buffer.from(nonce, 'hex'));
    const cvmEvidence = await cvm.collect(reportDataFor(nonceBytes, key.spkiDer));
    const gpuEvidence = gpus ? await gpus.collect(nonceBytes) : [];
    const request = encodeEvidenceRequest(nonce, key.publicJwk as Record<string, unknown>, {
      cvm: cvmEvidence,
      gpus: gpuEvidence.map((g) => ({ uuid: g.uuid, report: g.report, certificateChain: g.certificateChainPem })),
    });
    const { body: answer } = await client.post<WorkloadAttestResponse>(WORKLOAD_ATTEST_PATH, request, [403]);
    if (!answer.accepted) return this.#refused(answer.reasons);
    const uuids = gpuEvidence.map((g) => g.uuid);
    const problem = await checkGrant(
      client,
      answer.grant,
      {
        node: workloadSubject(pod.namespace, pod.name),
        gpus: uuids,
        evidence: evidenceDigest(request),
        agentKeyThumbprint: key.thumbprint,
        now: this.#now(),
      },
      WORKLOAD_JWKS_PATH,
    );
    // A grant we cannot verify is no grant: the GPUs stay as they are.
    if (problem) return this.#refused([`the grant is not valid: ${problem}`]);
    let ready = true;
    if (gpus) {
      await gpus.setGpusReady(true);
      ready = await gpus.gpusReady();
    }
    const report = await signActivationReport({ grant: answer.grant, gpusReady: ready, gpus: uuids }, key.privateKey);
    const { body: issued } = await client.post<WorkloadCertificateResponse>(WORKLOAD_ACTIVATE_PATH, { report }, [403]);
    return this.#received(issued, key, 'pod VM and GPUs attested, GPUs activated: workload certificate written', {
      gpus: uuids.length,
    });
  }

  /**
   * Confidential-node mode: a nonce from the Coordinator, the node agent's countersignature over
   * this pod, its key and the nonce, then the certificate. A refusal by the agent (403) is a
   * refusal; an agent not attested yet or unreachable is an error (retried).
   */
  async #certifyOnNode(agent: NodeAgentEndpoint): Promise<CertifyOutcome> {
    const { client } = this.#options;
    const key = await this.#workloadKey();
    const { nonce } = (await client.post<NonceResponse>(WORKLOAD_NONCE_PATH, {})).body;
    const request: CountersignRequest = {
      nonce,
      spki: Buffer.from(key.spkiDer).toString('base64url'),
      proof: await signProof(nonce, key.spkiDer, key.privateKey),
    };
    const response = await fetch(new URL(COUNTERSIGN_PATH, agent.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await agent.token()}` },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await response.json().catch(() => ({ error: `HTTP ${response.status}` }))) as CountersignResponse;
    if (response.status === 403 || response.status === 401)
      return this.#refused([`the node agent refused: ${'error' in answer ? answer.error : response.status}`]);
    if (!response.ok || !('countersignature' in answer)) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw Object.assign(
        new Error(`the node agent answered ${response.status}: ${'error' in answer ? answer.error : ''}`),
        Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {},
      );
    }
    const { body: issued } = await client.post<WorkloadCertificateResponse>(
      WORKLOAD_COUNTERSIGNED_PATH,
      { ...request, countersignature: answer.countersignature } satisfies CountersignedRequest,
      [403],
    );
    return this.#received(
      issued,
      key,
      "node attested, its agent countersigned the pod's key: workload certificate written",
    );
  }

  /** The Coordinator's answer: the certificate checked and written, or a refusal. */
  async #received(
    issued: WorkloadCertificateResponse,
    key: AgentKey,
    message: string,
    fields: Record<string, unknown> = {},
  ): Promise<CertifyOutcome> {
    if (!issued.certified) return this.#refused([issued.reason]);
    const wrong = await certificateProblem(issued.certificate, issued.meshCA, key);
    if (wrong) return this.#refused([wrong]);
    await writeCertificate(this.#options.out, issued.meshCA, issued.certificate);
    this.#last = {
      certified: true,
      notAfter: new Date(issued.notAfter),
      renewAfterMs: issued.renewAfterSeconds * 1000,
      manifestHash: issued.manifestHash,
      meshCa: issued.meshCA,
    };
    this.#log.info({ ...fields, manifest: issued.manifestHash, notAfter: issued.notAfter }, message);
    return this.#last;
  }

  /**
   * `attestor init` as an init container: rounds until the pod is certified, with backoff on
   * errors; a refusal ends it (the kubelet restarts the container, so the pod tries again later).
   */
  async certifyOnce(signal: AbortSignal, deadlineMs = 300_000): Promise<CertifyOutcome> {
    const until = Date.now() + deadlineMs;
    for (let failures = 0; ; failures++) {
      try {
        return await this.certify();
      } catch (err) {
        const wait = retryWait(err, failures);
        if (signal.aborted || Date.now() + wait > until) throw err;
        this.#log.warn({ err: errorMessage(err), retryInMs: wait }, 'attestation round failed');
        await sleep(wait, signal);
      }
    }
  }

  /**
   * The sidecar: certified first if there is no current certificate, then renewed before it
   * expires, or when the Coordinator's mesh CA changes, until the signal aborts.
   */
  async renew(signal: AbortSignal, checkIntervalMs = DEFAULT_CHECK_INTERVAL_MS): Promise<void> {
    let next = this.#last?.certified ? Date.now() + this.#last.renewAfterMs : await this.#renewalOfVolume();
    let failures = 0;
    // The mesh CA a refusal came under: a new one is worth a try at once, the same one not.
    let refusedUnder: string | undefined;
    while (!signal.aborted) {
      const served = await this.#servedMeshCa();
      const held = await readText(this.#options.out, MESH_CA_FILE);
      const changed = served !== undefined && held !== undefined && served !== held && served !== refusedUnder;
      if (Date.now() >= next || changed) {
        try {
          const outcome = await this.certify();
          failures = 0;
          refusedUnder = outcome.certified ? undefined : served;
          next = Date.now() + (outcome.certified ? outcome.renewAfterMs : RETRY_AFTER_REFUSAL_MS);
        } catch (err) {
          if (signal.aborted) break;
          const wait = retryWait(err, failures++);
          this.#log.warn({ err: errorMessage(err), retryInMs: wait }, 'renewal round failed');
          next = Date.now() + wait;
        }
      }
      await sleep(Math.max(0, Math.min(checkIntervalMs, next - Date.now())), signal);
    }
  }

  /**
   * When to renew the certificate already on the volume (the sidecar starts after the one-shot
   * `attestor init` wrote it): `renewalTime`, or now (0) when there is none to keep.
   */
  async #renewalOfVolume(): Promise<number> {
    const { out } = this.#options;
    const [key, certificate, meshCa] = await Promise.all([
      readKey(out).catch(() => undefined),
      readText(out, CERTIFICATE_FILE),
      readText(out, MESH_CA_FILE),
    ]);
    if (!key || !certificate || !meshCa) return 0;
    const now = this.#now();
    const at = await renewalTime(certificate, meshCa, key, now);
    if (!at) return 0;
    this.#log.info(
      { renewAt: at.toISOString() },
      'a current workload certificate is on the volume: renewing it half-way through its life',
    );
    return Date.now() + Math.max(0, at.getTime() - now.getTime());
  }

  /** The Coordinator's current mesh CA (a Manifest change replaces it), or undefined when it cannot be read. */
  async #servedMeshCa(): Promise<string | undefined> {
    try {
      const served = await this.#options.client.get<WorkloadMeshCaResponse>(WORKLOAD_MESH_CA_PATH);
      return served.meshCA ?? undefined;
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, 'could not read the mesh CA');
      return undefined;
    }
  }

  /** Refused: no certificate on the volume, and GPUs not ready (fail closed). */
  async #refused(reasons: string[]): Promise<CertifyOutcome> {
    this.#log.warn({ reasons }, 'the Coordinator refused the pod: no workload certificate');
    await removeCertificate(this.#options.out);
    const gpus = this.#options.gpus;
    if (gpus && (await gpus.gpusReady())) {
      await gpus.setGpusReady(false);
      this.#log.warn('GPUs set not ready: this pod is not certified');
    }
    this.#last = { certified: false, reasons };
    return this.#last;
  }

  /** The pod's key: the one on the volume (renewal), or a new one, written there at once. */
  async #workloadKey(): Promise<AgentKey> {
    if (this.#key) return this.#key;
    const existing = await readKey(this.#options.out);
    if (existing) {
      this.#key = existing;
      return existing;
    }
    const created = await createAgentKey({ extractable: true });
    await writeKey(this.#options.out, created);
    this.#key = created;
    return created;
  }

  #now(): Date {
    return (this.#options.now ?? (() => new Date()))();
  }
}

/**
 * When a certificate found on the volume is due for renewal: half-way through its life (what the
 * Coordinator advises at issuance), if it is for this key, signed by the mesh CA beside it and not
 * expired at `now`; undefined otherwise (renew at once). Pure: time is a parameter.
 */
export async function renewalTime(
  certificatePem: string,
  meshCaPem: string,
  key: AgentKey,
  now: Date,
): Promise<Date | undefined> {
  if (await certificateProblem(certificatePem, meshCaPem, key)) return undefined;
  const { notBefore, notAfter } = new x509.X509Certificate(certificatePem);
  if (now.getTime() >= notAfter.getTime()) return undefined;
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) / 2);
}

/** Why the certificate is not one to write: not for this key, or not issued by the mesh CA that came with it. */
async function certificateProblem(
  certificatePem: string,
  meshCaPem: string,
  key: AgentKey,
): Promise<string | undefined> {
  try {
    const certificate = new x509.X509Certificate(certificatePem);
    const meshCa = new x509.X509Certificate(meshCaPem);
    if (!Buffer.from(certificate.publicKey.rawData).equals(Buffer.from(key.spkiDer)))
      return "the certificate is not for this pod's key";
    if (!(await certificate.verify({ publicKey: meshCa.publicKey, signatureOnly: true })))
      return 'the certificate is not signed by the mesh CA that came with it';
    return undefined;
  } catch (err) {
    return `the certificate or mesh CA does not parse: ${errorMessage(err)}`;
  }
}

function retryWait(err: unknown, failures: number): number {
  return Math.max((err as CoordinatorHttpError).retryAfterMs ?? 0, Math.min(1000 * 2 ** failures, 30_000));
}

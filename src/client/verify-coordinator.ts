/**
 * The client's check of the Coordinator (`attestor verify coordinator`, and the client proxy and
 * applications through `verifyCoordinator`). With a fresh nonce it asks the Coordinator to prove
 * itself and checks, listing every problem:
 *
 * - the Manifest it serves hashes to the hash it claims, and that is the pinned hash (the hash
 *   comes from the workload owner, out of band: never from `kubectl get manifest`, which the
 *   cluster admin controls);
 * - its transition chain follows from its Manifest hashes and ends at that Manifest; by default
 *   it holds that Manifest only (`allowHistory` accepts earlier ones and lists them);
 * - the mesh CA is issued by the root CA, both valid CAs;
 * - its CVM evidence verifies against the pinned vendor roots (simulated evidence only when the
 *   pinned Manifest accepts it and the caller passed the simulated roots) and meets the pinned
 *   Manifest's coordinator-role entries and coordinator policies, with REPORT_DATA binding the
 *   nonce, the latest transition and both CAs;
 * - the pinned Manifest does not enable the confidential-node model, which trusts the cluster
 *   admin (`allowAdminTrusted` accepts it: the Kubernetes status that warns of it reaches only
 *   the admin, so the client decides for itself).
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import type { ManifestSpec } from '../api/manifest.ts';
import { manifestRelaxations, type Relaxation } from '../api/manifest-relaxations.ts';
import { adminTrustedEntries, policyHashesForRole, referenceValuesForRole } from '../api/manifest-roles.ts';
import { appraiseCvm } from '../attestation/cvm-appraisal.ts';
import type {
  CvmClaims,
  NodeAppraisalContext,
  NodeCollateral,
  NodeEvidence,
  NodeTrust,
} from '../attestation/node-appraisal.ts';
import { isGenuine, type Reason, reason } from '../attestation/verdict.ts';
import { coordinatorReportData, decodeCoordinatorAttestResponse } from '../protocol/coordinator-attest.ts';
import { type HistoryEntry, latestTransition, transitionChain } from '../protocol/transition-chain.ts';
import { fetchCoordinatorAttestation } from './coordinator-fetch.ts';

/** Collateral for the Coordinator's evidence at a time (src/collateral's collateralSource fits). */
export type EvidenceCollateral = (
  evidence: NodeEvidence,
  at: Date,
) => Promise<{ collateral: NodeCollateral; notes: readonly string[] }>;

export interface CoordinatorCheckOptions {
  /** The Manifest hash the workload owner published (64 hex characters). */
  manifestHash: string;
  /** The simulated platform's roots (simulated-roots.ts), accepted only if the pinned Manifest accepts simulated evidence. */
  simulatedRoots?: { trust: NodeTrust; collateral: NodeCollateral };
  /** Accept a pinned Manifest that enables the confidential-node model (the cluster admin is trusted). */
  allowAdminTrusted?: boolean;
  /** Accept a Coordinator that followed earlier Manifests before the pinned one. */
  allowHistory?: boolean;
  /** Vendor collateral for real evidence (a TDX quote needs Intel's); default none. */
  collateral?: EvidenceCollateral;
  /** When the certificates must be valid; default now. */
  at?: Date;
}

export interface VerifyCoordinatorOptions extends CoordinatorCheckOptions {
  /** The Coordinator's URL (https://host:port, or with the path); https is used without trusting its certificate. */
  coordinator: string;
  timeoutMs?: number;
}

export interface CoordinatorVerification {
  verified: boolean;
  /** Every problem; empty when verified. */
  reasons: Reason[];
  /** The hash the caller pinned. */
  pinnedHash: string;
  /** The hash of the Manifest the Coordinator serves (when it said one). */
  manifestHash?: string;
  /** The Manifest it serves, when its canonical JSON hashed to that hash. */
  manifest?: ManifestSpec;
  /** Its Manifest history, oldest first (the last is the active one). */
  history?: HistoryEntry[];
  /** PEM. */
  rootCA?: string;
  meshCA?: string;
  /** The checks the pinned Manifest relaxes (including the confidential-node model). */
  relaxations?: Relaxation[];
  /** Whether the evidence was accepted under the simulated roots. */
  simulated?: boolean;
  /** What the evidence established. */
  cvm?: CvmClaims;
}

/** Fetches a fresh attestation and checks it. Throws CoordinatorUnreachable when there is nothing to check. */
export async function verifyCoordinator(options: VerifyCoordinatorOptions): Promise<CoordinatorVerification> {
  const nonce = new Uint8Array(randomBytes(32));
  const answer = await fetchCoordinatorAttestation(options.coordinator, nonce, options.timeoutMs);
  return checkCoordinatorAttestation(answer, nonce, options);
}

/** Checks an answer to POST /v1/coordinator/attest made for `nonce`. */
export async function checkCoordinatorAttestation(
  answer: unknown,
  nonce: Uint8Array,
  options: CoordinatorCheckOptions,
): Promise<CoordinatorVerification> {
  const pinnedHash = options.manifestHash;
  const at = options.at ?? new Date();
  const decoded = decodeCoordinatorAttestResponse(answer);
  if ('error' in decoded) return refused(pinnedHash, [reason('coordinator.response', decoded.error)]);
  const reasons: Reason[] = [];
  const result: CoordinatorVerification = {
    verified: false,
    reasons,
    pinnedHash,
    manifestHash: decoded.manifestHash,
    history: decoded.history,
    rootCA: decoded.rootCA,
    meshCA: decoded.meshCA,
  };

  // The Manifest: what it serves hashes to what it claims, and that is what the caller pinned.
  const served = createHash('sha256').update(decoded.manifest, 'utf8').digest('hex');
  let spec: ManifestSpec | undefined;
  if (served !== decoded.manifestHash)
    reasons.push(
      reason(
        'coordinator.manifest',
        `the Manifest the Coordinator serves hashes to ${served}, not to the ${decoded.manifestHash} it claims`,
      ),
    );
  else spec = parseSpec(decoded.manifest, reasons);
  if (decoded.manifestHash !== pinnedHash)
    reasons.push(
      reason(
        'coordinator.manifest-hash',
        `the Coordinator's active Manifest is ${decoded.manifestHash}, not the pinned ${pinnedHash}`,
      ),
    );

  // The history: a chain that follows from its hashes and ends at the active Manifest.
  const chain = transitionChain(decoded.history.map((e) => e.manifestHash));
  const chainHolds =
    chain.length > 0 &&
    chain.every((e, i) => e.transition === decoded.history[i]!.transition) &&
    chain.at(-1)!.manifestHash === decoded.manifestHash;
  if (!chainHolds)
    reasons.push(
      reason(
        'coordinator.history.chain',
        chain.length === 0
          ? 'the transition chain is empty'
          : 'the transition chain does not follow from its Manifest hashes (SHA-256(hash ‖ previous), from zeros) or does not end at the active Manifest',
      ),
    );
  else if (chain.length > 1 && !options.allowHistory)
    reasons.push(
      reason(
        'coordinator.history',
        `the Coordinator followed ${chain.length - 1} Manifest(s) before this one (${chain
          .slice(0, -1)
          .map((e) => e.manifestHash)
          .join(', ')}); pass --allow-history to accept a history`,
      ),
    );

  // The CAs: the root issued the mesh CA.
  const cas = checkCas(decoded.rootCA, decoded.meshCA, at, reasons);

  // The evidence, against the pinned Manifest only: with another one active there is nothing to appraise against.
  if (spec && decoded.manifestHash === pinnedHash) {
    result.manifest = spec;
    result.relaxations = manifestRelaxations(spec);
    const adminTrusted = adminTrustedEntries(spec.referenceValues ?? {});
    if (adminTrusted.length > 0 && !options.allowAdminTrusted)
      reasons.push(
        reason(
          'coordinator.admin-trusted',
          `the pinned Manifest enables the confidential-node model (${adminTrusted.join(', ')} in the node role), which trusts the cluster admin; pass --allow-admin-trusted to accept it`,
        ),
      );
    if (cas && chainHolds) {
      const reportData = coordinatorReportData(nonce, latestTransition(chain), cas.root, cas.mesh);
      const appraised = await appraiseEvidence(decoded.evidence, reportData, nonce, spec, options, at);
      result.cvm = appraised.claims;
      result.simulated = appraised.simulated;
      reasons.push(...appraised.reasons);
    }
  }
  result.verified = reasons.length === 0;
  return result;
}

function refused(pinnedHash: string, reasons: Reason[]): CoordinatorVerification {
  return { verified: false, reasons, pinnedHash };
}

function parseSpec(json: string, reasons: Reason[]): ManifestSpec | undefined {
  try {
    const spec = JSON.parse(json) as ManifestSpec;
    if (spec && typeof spec === 'object' && spec.referenceValues && Array.isArray(spec.policies)) return spec;
  } catch {
    // below
  }
  reasons.push(reason('coordinator.manifest', 'the served Manifest is not a Manifest spec in JSON'));
  return undefined;
}

/** DER of both CAs when the root is a self-signed CA that issued the mesh CA, both valid at `at`. */
function checkCas(
  rootPem: string,
  meshPem: string,
  at: Date,
  reasons: Reason[],
): { root: Uint8Array; mesh: Uint8Array } | undefined {
  let root: X509Certificate;
  let mesh: X509Certificate;
  try {
    root = new X509Certificate(rootPem);
    mesh = new X509Certificate(meshPem);
  } catch (err) {
    reasons.push(reason('coordinator.ca', `a CA certificate does not parse: ${(err as Error).message}`));
    return undefined;
  }
  const problems: string[] = [];
  if (!root.ca || !root.checkIssued(root) || !root.verify(root.publicKey))
    problems.push('the root CA is not a self-signed CA certificate');
  if (!mesh.ca || !mesh.checkIssued(root) || !mesh.verify(root.publicKey))
    problems.push('the mesh CA is not a CA certificate issued by the root CA');
  for (const [name, cert] of [
    ['root', root],
    ['mesh', mesh],
  ] as const)
    if (at < new Date(cert.validFrom) || at > new Date(cert.validTo))
      problems.push(`the ${name} CA is not valid at ${at.toISOString()} (${cert.validFrom} to ${cert.validTo})`);
  for (const p of problems) reasons.push(reason('coordinator.ca', p));
  return problems.length === 0 ? { root: new Uint8Array(root.raw), mesh: new Uint8Array(mesh.raw) } : undefined;
}

/**
 * The CVM evidence against the pinned Manifest's coordinator role, under the vendor roots, and
 * under the simulated ones only where the Manifest accepts simulated evidence and the caller has them.
 */
async function appraiseEvidence(
  cvm: NodeEvidence['cvm'],
  reportData: Uint8Array,
  nonce: Uint8Array,
  spec: ManifestSpec,
  options: CoordinatorCheckOptions,
  at: Date,
): Promise<{ reasons: Reason[]; claims: CvmClaims; simulated: boolean }> {
  const context: Omit<NodeAppraisalContext, 'trust' | 'collateral'> = {
    referenceValues: referenceValuesForRole(spec.referenceValues ?? {}, 'coordinator'),
    policyHashes: policyHashesForRole(spec.policies ?? [], 'coordinator'),
    at,
  };
  const expectation = { reportData, nonce, gpuCount: 0 };
  const evidence: NodeEvidence = { cvm, gpus: [] };
  const collateral = options.collateral ? (await options.collateral(evidence, at)).collateral : {};
  const production = appraiseCvm(cvm, expectation, { ...context, trust: {}, collateral });
  if (production.reasons.length === 0) return { ...production, simulated: false };
  if (!spec.development?.acceptSimulatedEvidence) return { ...production, simulated: false };
  if (!options.simulatedRoots)
    return {
      ...production,
      reasons: [
        ...production.reasons,
        reason(
          'coordinator.simulated-roots',
          'the evidence does not verify under the AMD and Intel roots; the pinned Manifest accepts simulated evidence, but only a caller who passes the simulated roots (--simulated-roots FILE) accepts it',
        ),
      ],
      simulated: false,
    };
  const simulated = appraiseCvm(cvm, expectation, {
    ...context,
    trust: options.simulatedRoots.trust,
    collateral: options.simulatedRoots.collateral,
  });
  // Refused under both: the simulated verdict explains more only when the simulated roots found it genuine.
  return isGenuine(simulated.reasons) ? { ...simulated, simulated: true } : { ...production, simulated: false };
}

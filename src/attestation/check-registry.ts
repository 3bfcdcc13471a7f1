/**
 * The check-ID registry: every `check` a Reason can carry, per platform (snp/checks.ts,
 * tdx/checks.ts, nvidia/checks.ts, node-checks.ts, coordinator-checks.ts for a client's check
 * of the Coordinator, workload-checks.ts for a pod's workload certificate, secret-service-checks.ts for a client's
 * check of the secret service's key-exchange answer, secret-release-checks.ts for the secret service's
 * check of a worker asking for a secret, storage-key-checks.ts for a secret-service replica's check of
 * another that asks for or hands over the storage key), each with its kind:
 *
 * - authenticity: the evidence is not shown to be genuine and current: it does not parse, a
 *   signature, chain or revocation check fails, or the vendor collateral does not vouch for it;
 * - binding: genuine evidence, but not bound to this request or node (the nonce, REPORT_DATA with
 *   the agent's key, one report per GPU of the node, the device each GPU UUID was attested as);
 * - comparison: genuine evidence compared with what the Manifest or the vendor's reference values
 *   allow (measurements, TCB levels, policies, versions, the rules every entry applies).
 *
 * reason() takes the kind from here, so every Reason carries it: the Coordinator retains and
 * re-appraises evidence refused only by comparisons (verdict.ts onlyComparisons), and takes the
 * verdict under the simulated roots only when they found the evidence genuine (isGenuine). A
 * check missing here does not compile.
 */

import { COORDINATOR_CHECKS } from './coordinator-checks.ts';
import { NODE_CHECKS } from './node-checks.ts';
import { GPU_CHECKS } from './nvidia/checks.ts';
import { SECRET_RELEASE_CHECKS } from './secret-release-checks.ts';
import { SECRET_SERVICE_CHECKS } from './secret-service-checks.ts';
import { SNP_CHECKS } from './snp/checks.ts';
import { STORAGE_KEY_CHECKS } from './storage-key-checks.ts';
import { TDX_CHECKS } from './tdx/checks.ts';
import { WORKLOAD_CHECKS } from './workload-checks.ts';

export type CheckKind = 'authenticity' | 'binding' | 'comparison';

export interface CheckInfo {
  readonly kind: CheckKind;
  /** What a refusal with this check means, for docs and alerts. */
  readonly about: string;
}

export type CheckRegistry = Readonly<Record<string, CheckInfo>>;

export const CHECKS = {
  ...SNP_CHECKS,
  ...TDX_CHECKS,
  ...GPU_CHECKS,
  ...NODE_CHECKS,
  ...COORDINATOR_CHECKS,
  ...WORKLOAD_CHECKS,
  ...SECRET_SERVICE_CHECKS,
  ...SECRET_RELEASE_CHECKS,
  ...STORAGE_KEY_CHECKS,
} as const satisfies CheckRegistry;

export type CheckId = keyof typeof CHECKS;

/** Whether `id` is a registered check. */
export function isCheckId(id: string): id is CheckId {
  return Object.hasOwn(CHECKS, id);
}

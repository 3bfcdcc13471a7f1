/**
 * The rules on a report beyond its measurement and TCB minimum: guest policy, VMPL, platform,
 * firmware state, mitigations and ID block. A Manifest entry carries them as optional fields,
 * `attestor verify snp` as flags; both call this one function, so an absent field means the same
 * safe default in both places.
 */
import type { SnpRules } from '../reference-values.ts';
import { type Reason, reason } from '../verdict.ts';
import type { SnpClaims } from './claims.ts';
import { minimumFirmwareReasons, provisionalFirmwareReasons } from './firmware.ts';
import { idBlockReasons } from './id-block.ts';
import { mitigationVectorReasons } from './mitigation.ts';
import { platformInfoReasons } from './platform-info.ts';
import { guestPolicyReasons } from './policy.ts';

/** The rules plus what only the CLI may relax: a Manifest cannot allow DEBUG. */
export interface SnpRuleOptions extends SnpRules {
  allowDebug?: boolean;
}

/** Reasons why the claims break the rules; empty when they meet them. */
export function snpRuleReasons(claims: SnpClaims, rules: SnpRuleOptions): Reason[] {
  const out: Reason[] = [...guestPolicyReasons(claims.policy, rules)];
  const maxVmpl = rules.maximumVMPL ?? 0;
  if (claims.vmpl > maxVmpl)
    out.push(reason('snp.vmpl', `report is from VMPL ${claims.vmpl}, the maximum is ${maxVmpl}`));
  out.push(...platformInfoReasons(BigInt(`0x${claims.platformInfo.raw}`), rules.platformInfo));
  out.push(...provisionalFirmwareReasons(claims, rules.allowProvisionalFirmware ?? false));
  out.push(...minimumFirmwareReasons(claims, rules.minimumFirmware));
  out.push(...mitigationVectorReasons(claims, rules.minimumMitigationVector));
  out.push(...idBlockReasons(claims, rules.idBlock));
  return out;
}

/**
 * Provisional firmware: the host installed new SNP firmware (CURRENT) without committing it, so a
 * reboot or downgrade can bring back the COMMITTED one. A report from such a state describes a
 * platform that may not stay as reported, hence refused unless explicitly allowed.
 */
import { reason, type Reason } from '../verdict.ts';
import { SNP_CHECKS } from './checks.ts';
import type { SnpClaims } from './claims.ts';

const version = (v: { major: number; minor: number; build: number }): string => `${v.major}.${v.minor} build ${v.build}`;

/** Reasons why the report shows provisional firmware (CURRENT differs from COMMITTED); empty if not. */
export function provisionalFirmwareReasons(claims: SnpClaims): Reason[] {
  const out: Reason[] = [];
  if (claims.currentTcb.raw !== claims.committedTcb.raw) {
    out.push(reason(SNP_CHECKS.firmwareProvisional, `CURRENT_TCB ${claims.currentTcb.raw} differs from COMMITTED_TCB ${claims.committedTcb.raw} (provisional firmware)`));
  }
  const c = claims.currentFirmware;
  const k = claims.committedFirmware;
  if (c.major !== k.major || c.minor !== k.minor || c.build !== k.build) {
    out.push(reason(SNP_CHECKS.firmwareProvisional, `current firmware ${version(c)} differs from committed ${version(k)} (provisional firmware)`));
  }
  return out;
}

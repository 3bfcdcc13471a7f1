/**
 * Mitigation vectors (report version 5 and later, AMD SEV-SNP ABI 1.58): LAUNCH_MIT_VECTOR says
 * which mitigations were in force when the guest launched, CURRENT_MIT_VECTOR which are now. A
 * required vector is met when every bit set in it is set in the report (go-sev-guest
 * validateMitigationVectors); an older report carries none, so it cannot meet a non-zero one.
 */
import type { SnpRules } from '../reference-values.ts';
import { type Reason, reason } from '../verdict.ts';
import type { SnpClaims } from './claims.ts';

/** Reasons why the report lacks mitigations the rules require. */
export function mitigationVectorReasons(claims: SnpClaims, minimum: SnpRules['minimumMitigationVector']): Reason[] {
  const out: Reason[] = [];
  const fields = [
    ['launch', 'LAUNCH_MIT_VECTOR', claims.launchMitVector, 'snp.mitigation.launch'],
    ['current', 'CURRENT_MIT_VECTOR', claims.currentMitVector, 'snp.mitigation.current'],
  ] as const;
  for (const [key, label, value, check] of fields) {
    const wantText = minimum?.[key];
    if (wantText === undefined) continue;
    const want = parseVector(wantText);
    if (want === null) {
      out.push(reason(check, `required ${label} "${wantText}" is not a 64-bit value in hex`));
      continue;
    }
    if (want === 0n) continue;
    if (value === null) {
      out.push(
        reason(
          check,
          `report version ${claims.version} has no ${label} (version 5 and later), but mitigations 0x${want.toString(16)} are required`,
        ),
      );
      continue;
    }
    const missing = want & ~BigInt(`0x${value}`);
    if (missing !== 0n)
      out.push(reason(check, `${label} ${value} lacks required mitigation bits 0x${missing.toString(16)}`));
  }
  return out;
}

function parseVector(text: string): bigint | null {
  return /^[0-9a-fA-F]{1,16}$/.test(text) ? BigInt(`0x${text}`) : null;
}

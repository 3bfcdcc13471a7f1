/**
 * The SEV firmware state a report describes. Provisional firmware: the host installed new SNP
 * firmware (CURRENT) without committing it, so a reboot can bring back the COMMITTED one. Such a
 * report describes a platform that may not stay as reported, hence refused unless allowed; and
 * even when allowed, COMMITTED must not be above CURRENT (go-sev-guest validateTcb and
 * validateVersion), which no real firmware update produces.
 */
import type { SnpFirmwareVersion } from '../reference-values.ts';
import { type Reason, reason } from '../verdict.ts';
import type { SnpClaims } from './claims.ts';
import { tcbAbove } from './tcb.ts';

const text = (v: SnpFirmwareVersion): string => `${v.major}.${v.minor} build ${v.build}`;

/** <0, 0, >0 as a is below, equal to or above b, ordered by major, then minor, then build. */
export function compareFirmware(a: SnpFirmwareVersion, b: SnpFirmwareVersion): number {
  return a.major - b.major || a.minor - b.minor || a.build - b.build;
}

/**
 * Reasons why the report's firmware state is not acceptable: CURRENT differing from COMMITTED
 * unless `allowProvisional`, and with it, COMMITTED above CURRENT (TCB in any component, or version).
 */
export function provisionalFirmwareReasons(claims: SnpClaims, allowProvisional = false): Reason[] {
  const out: Reason[] = [];
  const current = claims.currentFirmware;
  const committed = claims.committedFirmware;
  if (!allowProvisional) {
    if (claims.currentTcb.raw !== claims.committedTcb.raw) {
      out.push(
        reason(
          'snp.firmware.provisional',
          `CURRENT_TCB ${claims.currentTcb.raw} differs from COMMITTED_TCB ${claims.committedTcb.raw} (provisional firmware)`,
        ),
      );
    }
    if (compareFirmware(current, committed) !== 0) {
      out.push(
        reason(
          'snp.firmware.provisional',
          `current firmware ${text(current)} differs from committed ${text(committed)} (provisional firmware)`,
        ),
      );
    }
    return out;
  }
  const above = tcbAbove(BigInt(`0x${claims.committedTcb.raw}`), BigInt(`0x${claims.currentTcb.raw}`), claims.product);
  if (above.length > 0)
    out.push(
      reason(
        'snp.firmware.committed',
        `COMMITTED_TCB ${claims.committedTcb.raw} is above CURRENT_TCB ${claims.currentTcb.raw} (${above.join(', ')})`,
      ),
    );
  if (compareFirmware(committed, current) > 0)
    out.push(
      reason('snp.firmware.committed', `committed firmware ${text(committed)} is above current ${text(current)}`),
    );
  return out;
}

/**
 * Reasons why the firmware is older than `minimum`: CURRENT (what runs) and COMMITTED (what a
 * reboot brings back; equal to CURRENT unless provisional firmware is allowed) must both meet it.
 * Versions are ordered as a whole (1.56 build 3 is newer than 1.55 build 21), not by comparing the
 * build numbers of different versions.
 */
export function minimumFirmwareReasons(claims: SnpClaims, minimum: SnpFirmwareVersion | undefined): Reason[] {
  if (minimum === undefined) return [];
  const out: Reason[] = [];
  for (const [label, version] of [
    ['current', claims.currentFirmware],
    ['committed', claims.committedFirmware],
  ] as const) {
    if (compareFirmware(version, minimum) < 0)
      out.push(
        reason('snp.firmware.minimum', `${label} firmware ${text(version)} is below the minimum ${text(minimum)}`),
      );
  }
  return out;
}

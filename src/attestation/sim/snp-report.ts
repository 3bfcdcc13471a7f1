/**
 * The 1184-byte ATTESTATION_REPORT as AMD firmware writes it, from report fields with defaults for
 * the simulator's chip (product, key kind, TCB, CHIP_ID, measurement); the signature is left zero.
 */
import { createHash } from 'node:crypto';
import type { SnpProduct, SnpTcb } from '../reference-values.ts';
import { encodeKeyInfo, type SnpSigningKey } from '../snp/key-info.ts';
import { encodePlatformInfo } from '../snp/platform-info.ts';
import { encodeGuestPolicy } from '../snp/policy.ts';
import { SNP_REPORT_SIZE, SNP_SIG_ALGO_ECDSA_P384_SHA384, type SnpCpuid } from '../snp/report.ts';
import { encodeTcb } from '../snp/tcb.ts';
import type { SnpReportFields } from './snp.ts';

const CPUID: Record<SnpProduct, SnpCpuid> = {
  Milan: { family: 0x19, model: 0x01, stepping: 0x01 },
  Genoa: { family: 0x19, model: 0x11, stepping: 0x01 },
  Turin: { family: 0x1a, model: 0x02, stepping: 0x00 },
};

/** Deterministic filler bytes, so simulated evidence is reproducible. */
export const seeded = (label: string, n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0, c = 0; i < n; c++) {
    const h = createHash('sha512').update(`${label}/${c}`).digest();
    out.set(h.subarray(0, Math.min(64, n - i)), i);
    i += 64;
  }
  return out;
};

export interface ReportDefaults {
  product: SnpProduct;
  kind: SnpSigningKey;
  tcb: SnpTcb;
  chipId: Uint8Array;
  measurement: Uint8Array;
}

/** Serializes report fields into the 1184-byte ATTESTATION_REPORT layout, signature left zero. */
export function encodeSnpReport(f: SnpReportFields, d: ReportDefaults): Uint8Array {
  const b = new Uint8Array(SNP_REPORT_SIZE);
  const v = new DataView(b.buffer);
  const put = (offset: number, size: number, value: Uint8Array | undefined): void => {
    if (value === undefined) return;
    if (value.length > size) throw new RangeError(`field at 0x${offset.toString(16)} takes at most ${size} bytes`);
    b.set(value, offset);
  };
  const version = f.version ?? 3;
  const tcb = (t: SnpTcb | undefined): bigint => encodeTcb(t ?? d.tcb, d.product);
  v.setUint32(0x00, version, true);
  v.setUint32(0x04, f.guestSvn ?? 0, true);
  v.setBigUint64(
    0x08,
    typeof f.policy === 'bigint' ? f.policy : encodeGuestPolicy(f.policy ?? { abiMajor: 1, abiMinor: 51, smt: true }),
    true,
  );
  put(0x10, 16, f.familyId);
  put(0x20, 16, f.imageId);
  v.setUint32(0x30, f.vmpl ?? 0, true);
  v.setUint32(0x34, f.signatureAlgorithm ?? SNP_SIG_ALGO_ECDSA_P384_SHA384, true);
  v.setBigUint64(0x38, tcb(f.currentTcb), true);
  v.setBigUint64(
    0x40,
    typeof f.platformInfo === 'bigint' ? f.platformInfo : encodePlatformInfo(f.platformInfo ?? { smtEnabled: true }),
    true,
  );
  v.setUint32(
    0x48,
    encodeKeyInfo({
      signingKey: f.signingKey ?? d.kind,
      maskChipId: f.maskChipId ?? false,
      authorKeyEnabled: f.authorKeyEnabled ?? false,
    }),
    true,
  );
  put(0x50, 64, f.reportData);
  put(0x90, 48, f.measurement ?? d.measurement);
  put(0xc0, 32, f.hostData);
  put(0xe0, 48, f.idKeyDigest);
  put(0x110, 48, f.authorKeyDigest);
  put(0x140, 32, f.reportId ?? seeded('report-id', 32));
  put(0x160, 32, f.reportIdMa ?? new Uint8Array(32).fill(0xff));
  v.setBigUint64(0x180, tcb(f.reportedTcb), true);
  if (version >= 3) {
    const c = f.cpuid ?? CPUID[d.product];
    b[0x188] = c.family;
    b[0x189] = c.model;
    b[0x18a] = c.stepping;
  }
  // With MASK_CHIP_ID the firmware reports zeros.
  put(0x1a0, 64, f.chipId ?? (f.maskChipId ? new Uint8Array(64) : d.chipId));
  v.setBigUint64(0x1e0, tcb(f.committedTcb), true);
  const cur = f.currentFirmware ?? { major: 1, minor: 55, build: 21 };
  const com = f.committedFirmware ?? cur;
  b.set([cur.build, cur.minor, cur.major], 0x1e8);
  b.set([com.build, com.minor, com.major], 0x1ec);
  v.setBigUint64(0x1f0, tcb(f.launchTcb), true);
  if (version >= 5) {
    v.setBigUint64(0x1f8, f.launchMitVector ?? 0n, true);
    v.setBigUint64(0x200, f.currentMitVector ?? 0n, true);
  }
  return b;
}

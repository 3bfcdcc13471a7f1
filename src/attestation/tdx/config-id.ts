/**
 * How a TD carries its workload policy: MRCONFIGID (48 bytes, set by the host at TD creation and
 * measured by the TDX module) holds the SHA-256 of the policy (Kata agent policy / initdata) in
 * its first 32 bytes, followed by 16 zero bytes. This is the convention Kata Containers uses for
 * initdata on TDX; the Manifest lists allowed policy hashes, and appraisal maps MRCONFIGID back to
 * one. A MRCONFIGID whose last 16 bytes are not zero carries no policy hash by this convention.
 */

/** The 48-byte MRCONFIGID (96 hex chars) for a policy's SHA-256 (64 hex chars). */
export function configIdForPolicyHash(sha256Hex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(sha256Hex))
    throw new TypeError(`policy hash must be 32 bytes of hex, got "${sha256Hex}"`);
  return sha256Hex.toLowerCase() + '0'.repeat(32);
}

/** The policy hash a MRCONFIGID (hex) carries, or undefined when it does not follow the convention. */
export function policyHashFromConfigId(mrConfigIdHex: string): string | undefined {
  const v = mrConfigIdHex.toLowerCase();
  if (!/^[0-9a-f]{96}$/.test(v) || !v.endsWith('0'.repeat(32))) return undefined;
  return v.slice(0, 64);
}

/**
 * Every `check` an SEV-SNP refusal can carry, with its kind (src/attestation/README.md): stable
 * identifiers that tests, metrics and alerts key on. Renaming one is a breaking change.
 */
import type { CheckRegistry } from '../check-registry.ts';

export const SNP_CHECKS = {
  // Parsing: the evidence could not be read at all.
  'snp.report.length': { kind: 'authenticity', about: 'the report is not 1184 bytes' },
  'snp.report.version': { kind: 'authenticity', about: 'the report version is not one this verifier reads' },
  'snp.report.reserved': {
    kind: 'authenticity',
    about: 'a signed field that must be zero is not, or a reserved enum value is used',
  },
  'snp.cert-table': { kind: 'authenticity', about: 'the certificate table (configfs-tsm auxblob) is malformed' },
  'snp.certificates': {
    kind: 'authenticity',
    about: 'no VCEK/VLEK: the evidence has no certificate table and none is in the collateral',
  },
  'snp.certificate': { kind: 'authenticity', about: 'a certificate does not parse, or the bundle has no single leaf' },
  'snp.certificate.key': { kind: 'authenticity', about: 'the VCEK/VLEK key is not ECDSA P-384' },
  'snp.certificate.extensions': { kind: 'authenticity', about: "the VCEK/VLEK's AMD extensions are malformed" },

  // Authenticity: signature, chain, revocation, and the report fields the certificate vouches for.
  'snp.signature.algorithm': {
    kind: 'authenticity',
    about: 'the report names a signature algorithm other than ECDSA P-384 with SHA-384',
  },
  'snp.signature': { kind: 'authenticity', about: 'the report signature does not verify with the VCEK/VLEK' },
  'snp.chain': { kind: 'authenticity', about: 'the VCEK/VLEK does not chain to a pinned ARK' },
  'snp.chain.validity': { kind: 'authenticity', about: 'a certificate of the chain is not valid at the time' },
  'snp.chain.product': { kind: 'authenticity', about: "the VCEK/VLEK's product is not its ARK's" },
  'snp.chain.kind': { kind: 'authenticity', about: 'a VCEK not signed by an ASK, or a VLEK not by an ASVK' },
  'snp.crl': { kind: 'authenticity', about: "the AMD CRL is not the ARK's, not current, or does not parse" },
  'snp.crl.revoked': { kind: 'authenticity', about: 'the CRL revokes the ASK/ASVK' },
  'snp.tcb.certificate': {
    kind: 'authenticity',
    about: 'REPORTED_TCB differs from the TCB the VCEK/VLEK was issued for',
  },
  'snp.tcb.certificate-current': {
    kind: 'authenticity',
    about: 'the VCEK/VLEK was issued for a TCB above CURRENT_TCB (go-sev-guest: certificate TCB <= CURRENT_TCB)',
  },
  'snp.chip-id': { kind: 'authenticity', about: "CHIP_ID differs from the VCEK's hwID" },
  'snp.signing-key': {
    kind: 'authenticity',
    about: "the report's key-info names another key kind than the certificate",
  },
  'snp.product.cpuid': { kind: 'authenticity', about: "a v3+ report's CPUID product differs from the certificate's" },
  'snp.product.unknown': {
    kind: 'authenticity',
    about: 'neither the report nor the certificate names a known product',
  },
  // Binding to the request.
  'snp.report-data': {
    kind: 'binding',
    about: "REPORT_DATA is not the expected one (the Coordinator's nonce and the agent's key)",
  },

  // Firmware state.
  'snp.firmware.provisional': {
    kind: 'comparison',
    about: 'provisional firmware (CURRENT differs from COMMITTED) not allowed',
  },
  'snp.firmware.committed': {
    kind: 'comparison',
    about: 'with provisional firmware allowed: COMMITTED is above CURRENT (TCB or version)',
  },
  'snp.firmware.minimum': { kind: 'comparison', about: 'the firmware version is below the minimum' },

  // Comparisons with the Manifest's reference values and rules, and with the workload policies.
  'snp.reference-values': { kind: 'comparison', about: 'there are no SEV-SNP reference values to appraise against' },
  'snp.measurement': { kind: 'comparison', about: 'MEASUREMENT is not one the entry allows' },
  'snp.host-data': { kind: 'comparison', about: 'HOST_DATA is not an allowed workload policy hash' },
  'snp.tcb.reported': { kind: 'comparison', about: 'REPORTED_TCB is below the minimum' },
  'snp.tcb.committed': { kind: 'comparison', about: 'COMMITTED_TCB is below the minimum' },
  'snp.tcb.launch': { kind: 'comparison', about: 'LAUNCH_TCB is below the minimum' },
  'snp.tcb.current': { kind: 'comparison', about: 'CURRENT_TCB is below the minimum' },
  'snp.policy.debug': { kind: 'comparison', about: 'the guest policy allows debugging' },
  'snp.policy.smt': { kind: 'comparison', about: 'the guest policy allows SMT where the entry forbids it' },
  'snp.policy.abi': { kind: 'comparison', about: 'the guest policy ABI is below the minimum' },
  'snp.policy.migrate-ma': { kind: 'comparison', about: 'the guest policy allows a migration agent' },
  'snp.policy.cxl': { kind: 'comparison', about: 'the guest policy allows CXL memory' },
  'snp.policy.single-socket': { kind: 'comparison', about: 'SINGLE_SOCKET is not as the entry requires' },
  'snp.policy.mem-aes-256-xts': { kind: 'comparison', about: 'MEM_AES_256_XTS is not as the entry requires' },
  'snp.policy.rapl-dis': { kind: 'comparison', about: 'RAPL_DIS is not as the entry requires' },
  'snp.policy.ciphertext-hiding': { kind: 'comparison', about: 'CIPHERTEXT_HIDING_DRAM is not as the entry requires' },
  'snp.policy.page-swap-disable': { kind: 'comparison', about: 'PAGE_SWAP_DISABLE is not as the entry requires' },
  'snp.platform.smt': { kind: 'comparison', about: 'SMT on the host is not as the entry requires' },
  'snp.platform.tsme': { kind: 'comparison', about: 'TSME on the host is not as the entry requires' },
  'snp.platform.tio': { kind: 'comparison', about: 'SEV-TIO on the host is not as the entry requires' },
  'snp.platform.ecc': { kind: 'comparison', about: 'ECC memory on the host is not as the entry requires' },
  'snp.platform.rapl-dis': { kind: 'comparison', about: 'RAPL on the host is not as the entry requires' },
  'snp.platform.ciphertext-hiding': {
    kind: 'comparison',
    about: 'ciphertext hiding on the host is not as the entry requires',
  },
  'snp.platform.alias-check': { kind: 'comparison', about: 'the BadRAM alias check is not as the entry requires' },
  'snp.platform.reserved': {
    kind: 'comparison',
    about: "PLATFORM_INFO has a bit set that AMD's ABI does not define (yet): refused by every entry",
  },
  'snp.mitigation.launch': { kind: 'comparison', about: 'a required mitigation was not active at launch' },
  'snp.mitigation.current': { kind: 'comparison', about: 'a required mitigation is not active now' },
  'snp.id-block.key': { kind: 'comparison', about: 'the ID block is not signed by a key the entry trusts' },
  'snp.id-block.family-id': { kind: 'comparison', about: 'FAMILY_ID is not one the entry allows' },
  'snp.id-block.image-id': { kind: 'comparison', about: 'IMAGE_ID is not one the entry allows' },
  'snp.id-block.guest-svn': { kind: 'comparison', about: 'GUEST_SVN is below the minimum' },
  'snp.vmpl': { kind: 'comparison', about: 'VMPL is above the maximum' },
  'snp.product': { kind: 'comparison', about: 'the product is unknown or not one the entry allows' },
  'snp.signing-key.allowed': {
    kind: 'comparison',
    about: 'the signing key kind (VCEK, VLEK) is not one the entry allows',
  },
} as const satisfies CheckRegistry;

export type SnpCheck = keyof typeof SNP_CHECKS;

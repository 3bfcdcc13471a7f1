/**
 * The stable `check` identifiers of every SEV-SNP refusal, in one place so that tests, metrics and
 * docs key on the same strings. Renaming one is a breaking change.
 */
export const SNP_CHECKS = {
  // Parsing (the evidence could not be read at all).
  reportLength: 'snp.report.length',
  reportVersion: 'snp.report.version',
  /** A signed field that must be zero is not, or a reserved enum value is used. */
  reportReserved: 'snp.report.reserved',
  certificate: 'snp.certificate',
  certificateKey: 'snp.certificate.key',
  certificateExtensions: 'snp.certificate.extensions',

  // Authenticity.
  signatureAlgorithm: 'snp.signature.algorithm',
  signature: 'snp.signature',
  chain: 'snp.chain',
  chainValidity: 'snp.chain.validity',
  chainProduct: 'snp.chain.product',
  chainKind: 'snp.chain.kind',
  crl: 'snp.crl',
  crlRevoked: 'snp.crl.revoked',
  /** REPORTED_TCB differs from the TCB the VCEK/VLEK was issued for. */
  tcbCertificate: 'snp.tcb.certificate',
  /** The VCEK/VLEK was issued for a TCB above CURRENT_TCB (go-sev-guest: certificate TCB <= CURRENT_TCB). */
  tcbCertificateCurrent: 'snp.tcb.certificate-current',
  chipId: 'snp.chip-id',
  /** The report's key-info field names another key kind than the certificate. */
  signingKey: 'snp.signing-key',
  /** The CPUID product of a v3+ report differs from the certificate's product. */
  productCpuid: 'snp.product.cpuid',
  /** Neither the report nor the certificate names a known product. */
  productUnknown: 'snp.product.unknown',

  // Firmware state.
  firmwareProvisional: 'snp.firmware.provisional',
  /** With provisional firmware allowed: COMMITTED is above CURRENT (TCB or version). */
  firmwareCommitted: 'snp.firmware.committed',
  firmwareMinimum: 'snp.firmware.minimum',

  // Appraisal against reference values and expectations.
  referenceValues: 'snp.reference-values',
  measurement: 'snp.measurement',
  hostData: 'snp.host-data',
  reportData: 'snp.report-data',
  tcbReported: 'snp.tcb.reported',
  tcbCommitted: 'snp.tcb.committed',
  tcbLaunch: 'snp.tcb.launch',
  tcbCurrent: 'snp.tcb.current',
  policyDebug: 'snp.policy.debug',
  policySmt: 'snp.policy.smt',
  policyAbi: 'snp.policy.abi',
  policyMigrateMa: 'snp.policy.migrate-ma',
  policyCxl: 'snp.policy.cxl',
  policySingleSocket: 'snp.policy.single-socket',
  policyMemAes256Xts: 'snp.policy.mem-aes-256-xts',
  policyRaplDisabled: 'snp.policy.rapl-dis',
  policyCiphertextHiding: 'snp.policy.ciphertext-hiding',
  policyPageSwapDisabled: 'snp.policy.page-swap-disable',
  platformSmt: 'snp.platform.smt',
  platformTsme: 'snp.platform.tsme',
  platformTio: 'snp.platform.tio',
  platformEcc: 'snp.platform.ecc',
  platformRaplDisabled: 'snp.platform.rapl-dis',
  platformCiphertextHiding: 'snp.platform.ciphertext-hiding',
  platformAliasCheck: 'snp.platform.alias-check',
  /** PLATFORM_INFO has a bit set that AMD's ABI does not define (yet). */
  platformReserved: 'snp.platform.reserved',
  mitigationLaunch: 'snp.mitigation.launch',
  mitigationCurrent: 'snp.mitigation.current',
  idBlockKey: 'snp.id-block.key',
  idBlockFamilyId: 'snp.id-block.family-id',
  idBlockImageId: 'snp.id-block.image-id',
  idBlockGuestSvn: 'snp.id-block.guest-svn',
  vmpl: 'snp.vmpl',
  product: 'snp.product',
  signingKeyAllowed: 'snp.signing-key.allowed',
} as const;

export type SnpCheck = (typeof SNP_CHECKS)[keyof typeof SNP_CHECKS];

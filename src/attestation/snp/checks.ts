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
  chipId: 'snp.chip-id',
  /** The report's key-info field names another key kind than the certificate. */
  signingKey: 'snp.signing-key',
  /** The CPUID product of a v3+ report differs from the certificate's product. */
  productCpuid: 'snp.product.cpuid',
  /** Neither the report nor the certificate names a known product. */
  productUnknown: 'snp.product.unknown',

  // Firmware state (authenticity plus one operational rule, also checked by the CLI).
  firmwareProvisional: 'snp.firmware.provisional',

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
  vmpl: 'snp.vmpl',
  product: 'snp.product',
  signingKeyAllowed: 'snp.signing-key.allowed',
} as const;

export type SnpCheck = (typeof SNP_CHECKS)[keyof typeof SNP_CHECKS];

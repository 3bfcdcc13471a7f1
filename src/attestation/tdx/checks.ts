/**
 * Every `check` an Intel TDX refusal can carry, with its kind (src/attestation/README.md): stable
 * identifiers that tests, metrics and alerts key on. Renaming one is a breaking change.
 */
import type { CheckRegistry } from '../check-registry.ts';

export const TDX_CHECKS = {
  // Parsing: the quote could not be read at all.
  'tdx.quote': { kind: 'authenticity', about: 'the quote (or its QE report) does not parse' },
  'tdx.quote.version': { kind: 'authenticity', about: 'the quote version is not 4 or 5' },
  'tdx.quote.attestation-key-type': { kind: 'authenticity', about: 'the attestation key is not ECDSA P-256' },
  'tdx.quote.tee-type': { kind: 'authenticity', about: 'the quote is not a TDX quote (TEE type 0x81)' },
  'tdx.quote.certification-data': {
    kind: 'authenticity',
    about: 'the certification data is not a QE report with a PCK chain',
  },
  'tdx.quote.pck-chain': { kind: 'authenticity', about: "the quote's PCK chain is not PEM" },

  // Authenticity (signatures, the PCK chain, revocation, the quoting enclave) and the binding to the request.
  'tdx.qe-vendor-id': { kind: 'authenticity', about: "the QE vendor ID is not Intel's" },
  'tdx.quote-signature': {
    kind: 'authenticity',
    about: 'the quote signature does not verify with the attestation key',
  },
  'tdx.qe-report-signature': {
    kind: 'authenticity',
    about: "the QE report signature does not verify with the PCK certificate's key",
  },
  'tdx.qe-report-data': {
    kind: 'authenticity',
    about: 'the QE report does not bind the attestation key (SHA-256 of key and QE auth data)',
  },
  'tdx.pck-chain': { kind: 'authenticity', about: 'the PCK chain does not parse or does not lead to a pinned root' },
  'tdx.pck-chain.validity': { kind: 'authenticity', about: 'a certificate of the PCK chain is not valid at the time' },
  'tdx.pck-extension': { kind: 'authenticity', about: "the PCK certificate's SGX extension is malformed" },
  'tdx.pck-revoked': { kind: 'authenticity', about: 'the PCK certificate or its CA is revoked' },
  'tdx.report-data': {
    kind: 'binding',
    about: "REPORTDATA is not the expected one (the Coordinator's nonce and the agent's key)",
  },
  'tdx.qe-identity.mrsigner': { kind: 'authenticity', about: "the QE's MRSIGNER is not the one in the QE identity" },
  'tdx.qe-identity.isvprodid': { kind: 'authenticity', about: "the QE's ISVPRODID is not the one in the QE identity" },
  'tdx.qe-identity.miscselect': { kind: 'authenticity', about: "the QE's MISCSELECT does not match the QE identity" },
  'tdx.qe-identity.attributes': { kind: 'authenticity', about: "the QE's attributes do not match the QE identity" },
  'tdx.tdx-module': {
    kind: 'authenticity',
    about: "the TDX module's signer or attributes are not the ones TCB info describes, or it describes none",
  },
  'tdx.tcb-status': {
    kind: 'comparison',
    about: "the platform's TCB status (from TCB info) is not one accepted (default UpToDate)",
  },
  'tdx.qe-tcb-status': {
    kind: 'comparison',
    about: "the quoting enclave's TCB status (from the QE identity) is not one accepted (default UpToDate)",
  },

  // Intel's collateral: each piece parses, is signed under the pinned root, is current, fits the quote.
  'tdx.collateral.missing': {
    kind: 'comparison',
    about: 'TCB info, QE identity, PCK CRL or root CA CRL is missing and the entry does not accept that',
  },
  'tdx.collateral.tcb-info': { kind: 'authenticity', about: 'the TCB info does not parse' },
  'tdx.collateral.tcb-info.signature': {
    kind: 'authenticity',
    about: 'the TCB info is not signed by the TCB Signing certificate under the pinned root',
  },
  'tdx.collateral.tcb-info.validity': { kind: 'authenticity', about: 'the TCB info is not current' },
  'tdx.collateral.tcb-info.fmspc': {
    kind: 'authenticity',
    about: 'the TCB info is for another platform (FMSPC, PCE ID)',
  },
  'tdx.collateral.qe-identity': { kind: 'authenticity', about: 'the QE identity does not parse' },
  'tdx.collateral.qe-identity.signature': {
    kind: 'authenticity',
    about: 'the QE identity is not signed by the TCB Signing certificate under the pinned root',
  },
  'tdx.collateral.qe-identity.validity': { kind: 'authenticity', about: 'the QE identity is not current' },
  'tdx.collateral.pck-crl': { kind: 'authenticity', about: 'the PCK CRL does not parse' },
  'tdx.collateral.pck-crl.signature': {
    kind: 'authenticity',
    about: 'the PCK CRL is not signed by the CA that issued the PCK certificate',
  },
  'tdx.collateral.pck-crl.validity': { kind: 'authenticity', about: 'the PCK CRL is not current' },
  'tdx.collateral.pck-crl.issuer': {
    kind: 'authenticity',
    about: "the PCK CRL's issuer chain names another CA than the one that issued the PCK certificate",
  },
  'tdx.collateral.root-crl': { kind: 'authenticity', about: 'the root CA CRL does not parse' },
  'tdx.collateral.root-crl.signature': { kind: 'authenticity', about: 'the root CA CRL is not signed by the root' },
  'tdx.collateral.root-crl.validity': { kind: 'authenticity', about: 'the root CA CRL is not current' },
  'tdx.collateral.tcb-signing-revoked': {
    kind: 'authenticity',
    about: 'the TCB Signing certificate of TCB info or QE identity is revoked by the root CA CRL',
  },

  // Comparisons: the rules every TD must meet and the Manifest's reference values.
  'tdx.td-attributes.debug': { kind: 'comparison', about: 'the TD runs in DEBUG mode' },
  'tdx.td-attributes.fixed-bits': {
    kind: 'comparison',
    about: "TDATTRIBUTES sets bits outside go-tdx-guest's fixed masks (refused by every entry)",
  },
  'tdx.xfam.fixed-bits': {
    kind: 'comparison',
    about: "XFAM sets bits outside go-tdx-guest's fixed masks (refused by every entry)",
  },
  'tdx.mrconfigid': { kind: 'comparison', about: 'MRCONFIGID does not carry an allowed workload policy hash' },
  'tdx.reference-values': { kind: 'comparison', about: 'there are no TDX reference values to appraise against' },
  'tdx.mrtd': { kind: 'comparison', about: 'MRTD is not one the entry allows' },
  'tdx.rtmr0': { kind: 'comparison', about: 'RTMR0 is not the expected value' },
  'tdx.rtmr1': { kind: 'comparison', about: 'RTMR1 is not the expected value' },
  'tdx.rtmr2': { kind: 'comparison', about: 'RTMR2 is not the expected value' },
  'tdx.rtmr3': { kind: 'comparison', about: 'RTMR3 is not the expected value' },
  'tdx.mrseam': { kind: 'comparison', about: 'MRSEAM (the TDX module) is not one the entry allows' },
  'tdx.xfam': { kind: 'comparison', about: 'XFAM is not the value the entry pins' },
  'tdx.td-attributes': { kind: 'comparison', about: 'TDATTRIBUTES is not the value the entry pins' },
  'tdx.mrowner': { kind: 'comparison', about: 'MROWNER is not the value the entry pins' },
  'tdx.mrownerconfig': { kind: 'comparison', about: 'MROWNERCONFIG is not the value the entry pins' },
  'tdx.qe-svn': { kind: 'comparison', about: "the quoting enclave's ISVSVN is below the minimum" },
  'tdx.pce-svn': { kind: 'comparison', about: "the PCK certificate's PCE SVN is below the minimum" },
  'tdx.tee-tcb-svn': { kind: 'comparison', about: 'TEE_TCB_SVN is below the minimum' },
} as const satisfies CheckRegistry;

export type TdxCheck = keyof typeof TDX_CHECKS;

/** The check of RTMR `i` (0..3). */
export const RTMR_CHECKS = ['tdx.rtmr0', 'tdx.rtmr1', 'tdx.rtmr2', 'tdx.rtmr3'] as const satisfies readonly TdxCheck[];

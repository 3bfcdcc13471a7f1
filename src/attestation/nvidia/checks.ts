/**
 * Every `check` a GPU refusal can carry, with its kind (src/attestation/README.md): stable
 * identifiers that tests, metrics and alerts key on. Renaming one is a breaking change.
 */
import type { CheckRegistry } from '../check-registry.ts';

export const GPU_CHECKS = {
  // Parsing, authenticity and revocation, and the binding to the nonce.
  'gpu.evidence': { kind: 'authenticity', about: 'the SDK evidence list is not usable (JSON, fields, base64)' },
  'gpu.report': {
    kind: 'authenticity',
    about: 'the attestation report does not parse as a signed SPDM 1.1 GET_MEASUREMENTS exchange',
  },
  'gpu.nonce': { kind: 'binding', about: "the report's signed request nonce is not the expected one" },
  'gpu.signature': {
    kind: 'authenticity',
    about: "the report signature does not verify with the leaf certificate's key",
  },
  'gpu.cert-chain': {
    kind: 'authenticity',
    about:
      'the device certificate chain does not parse, does not lead to a pinned NVIDIA Device Identity CA, or is not valid at the time',
  },
  'gpu.ocsp': {
    kind: 'authenticity',
    about:
      'a certificate above the leaf has no current OCSP answer (required by default), its answer is forged or replayed, or it is revoked or unknown beyond what the policy allows',
  },
  'gpu.rim.schema': { kind: 'authenticity', about: 'a RIM is not a well-formed NVIDIA SWID RIM' },
  'gpu.rim.signature': {
    kind: 'authenticity',
    about: "a RIM's XML signature is not of the accepted shape or does not verify",
  },
  'gpu.rim.cert-chain': {
    kind: 'authenticity',
    about: "a RIM's signer chain does not lead to a pinned NVIDIA RIM root or is not valid at the time",
  },
  'gpu.rim.ocsp': {
    kind: 'authenticity',
    about:
      "a certificate of a RIM's signer chain has no current OCSP answer, or is revoked or unknown beyond what the policy allows",
  },
  'gpu.rim.index-conflict': {
    kind: 'authenticity',
    about: 'the driver and VBIOS RIMs both have an active measurement at the same index',
  },

  // Comparisons with the RIMs' golden values and the Manifest's GPU reference values.
  'gpu.fwid': {
    kind: 'comparison',
    about:
      "the report carries no FWID (allowed only with requireFWID: false), or its FWID differs from (or is missing in) the leaf certificate's TCG DICE FWID, which no Manifest accepts",
  },
  'gpu.mode': {
    kind: 'comparison',
    about: "the report's FEATURE_FLAG is not a known multi-GPU mode (0 SPT, 1 MPT, 2 PPCIE)",
  },
  'gpu.arch': {
    kind: 'comparison',
    about: 'the architecture is unknown, not the declared one, or not allowed by the Manifest',
  },
  'gpu.driver-version': { kind: 'comparison', about: 'the driver version is missing or not allowed by the Manifest' },
  'gpu.vbios-version': { kind: 'comparison', about: 'the VBIOS version is missing or not allowed by the Manifest' },
  'gpu.rim.missing': { kind: 'comparison', about: 'no driver or VBIOS RIM among those given fits the report' },
  'gpu.rim.digest': { kind: 'comparison', about: "a RIM's SHA-384 is not among the Manifest's rimDigests" },
  'gpu.measurement': {
    kind: 'comparison',
    about: 'an active measurement differs from every alternative in its RIM, or is missing',
  },
} as const satisfies CheckRegistry;

export type GpuCheck = keyof typeof GPU_CHECKS;

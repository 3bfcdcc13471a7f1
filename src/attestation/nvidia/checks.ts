/** Every check id a GPU refusal can carry (Reason.check), with what it means; stable for tests, metrics and alerts. */
export const GPU_CHECKS = {
  'gpu.evidence': 'the SDK evidence list is not usable (JSON, fields, base64)',
  'gpu.report': 'the attestation report does not parse as a signed SPDM 1.1 GET_MEASUREMENTS exchange',
  'gpu.nonce': "the report's signed request nonce is not the expected one",
  'gpu.signature': "the report signature does not verify with the leaf certificate's key",
  'gpu.cert-chain':
    'the device certificate chain does not parse, does not lead to a pinned NVIDIA Device Identity CA, or is not valid at the time',
  'gpu.fwid':
    "the report carries no FWID (allowed only with requireFWID: false), or its FWID differs from (or is missing in) the leaf certificate's TCG DICE FWID",
  'gpu.ocsp':
    'a certificate above the leaf has no current OCSP answer (required by default), its answer is forged or replayed, or it is revoked or unknown beyond what the policy allows',
  'gpu.mode': "the report's FEATURE_FLAG is not a known multi-GPU mode (0 SPT, 1 MPT, 2 PPCIE)",
  'gpu.arch': 'the architecture is unknown, not the declared one, or not allowed by the Manifest',
  'gpu.driver-version': 'the driver version is missing or not allowed by the Manifest',
  'gpu.vbios-version': 'the VBIOS version is missing or not allowed by the Manifest',
  'gpu.rim.missing': 'no driver or VBIOS RIM among those given fits the report',
  'gpu.rim.schema': 'a RIM is not a well-formed NVIDIA SWID RIM',
  'gpu.rim.signature': "a RIM's XML signature is not of the accepted shape or does not verify",
  'gpu.rim.cert-chain': "a RIM's signer chain does not lead to a pinned NVIDIA RIM root or is not valid at the time",
  'gpu.rim.ocsp':
    "a certificate of a RIM's signer chain has no current OCSP answer, or is revoked or unknown beyond what the policy allows",
  'gpu.rim.digest': "a RIM's SHA-384 is not among the Manifest's rimDigests",
  'gpu.rim.index-conflict': 'the driver and VBIOS RIMs both have an active measurement at the same index',
  'gpu.measurement': 'an active measurement differs from every alternative in its RIM, or is missing',
} as const;

export type GpuCheck = keyof typeof GPU_CHECKS;

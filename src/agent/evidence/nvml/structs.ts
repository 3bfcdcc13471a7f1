/**
 * The confidential-computing structs of nvml.h as koffi types. Field order, types and array
 * lengths are nvml.h's (NVML API 12); the sizes are checked against gcc's layout of the same
 * declarations in test/unit/agent/nvml.test.ts.
 */
import koffi from 'koffi';

/** NVML_DEVICE_UUID_V2_BUFFER_SIZE: large enough for every UUID format NVML returns. */
export const NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96;
export const NVML_CC_GPU_CEC_NONCE_SIZE = 0x20;
export const NVML_CC_GPU_ATTESTATION_REPORT_SIZE = 0x2000;
export const NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE = 0x1000;
export const NVML_GPU_CERT_CHAIN_SIZE = 0x1000;
export const NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE = 0x1400;
/** NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE / _TRUE. */
export const NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE = 0;
export const NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE = 1;

/** typedef struct nvmlDevice_st* nvmlDevice_t: an opaque handle (a BigInt address in koffi 3). */
export const nvmlDevice_t = koffi.pointer('nvmlDevice_t', koffi.opaque('nvmlDevice_st'));

/** 12 bytes. */
export const nvmlConfComputeSystemState_t = koffi.struct('nvmlConfComputeSystemState_t', {
  environment: 'unsigned int',
  ccFeature: 'unsigned int',
  devToolsMode: 'unsigned int',
});

/** 8 + 4096 + 5120 = 9224 bytes. */
export const nvmlConfComputeGpuCertificate_t = koffi.struct('nvmlConfComputeGpuCertificate_t', {
  certChainSize: 'unsigned int',
  attestationCertChainSize: 'unsigned int',
  certChain: koffi.array('unsigned char', NVML_GPU_CERT_CHAIN_SIZE, 'Typed'),
  attestationCertChain: koffi.array('unsigned char', NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE, 'Typed'),
});

/** 12 + 32 + 8192 + 4096 = 12332 bytes; `nonce` is the input, the rest is output. */
export const nvmlConfComputeGpuAttestationReport_t = koffi.struct('nvmlConfComputeGpuAttestationReport_t', {
  isCecAttestationReportPresent: 'unsigned int',
  attestationReportSize: 'unsigned int',
  cecAttestationReportSize: 'unsigned int',
  nonce: koffi.array('unsigned char', NVML_CC_GPU_CEC_NONCE_SIZE, 'Typed'),
  attestationReport: koffi.array('unsigned char', NVML_CC_GPU_ATTESTATION_REPORT_SIZE, 'Typed'),
  cecAttestationReport: koffi.array('unsigned char', NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE, 'Typed'),
});

/** JS shapes koffi decodes the structs into. */
export interface NvmlCertificateStruct {
  certChainSize: number;
  attestationCertChainSize: number;
  certChain: Uint8Array;
  attestationCertChain: Uint8Array;
}

export interface NvmlAttestationReportStruct {
  isCecAttestationReportPresent: number;
  attestationReportSize: number;
  cecAttestationReportSize: number;
  nonce: Uint8Array;
  attestationReport: Uint8Array;
  cecAttestationReport: Uint8Array;
}

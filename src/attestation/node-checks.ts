/**
 * Every `check` a node-level refusal can carry (node-appraisal.ts, and the Coordinator's
 * one-node-per-evidence rule), with its kind (src/attestation/README.md).
 */
import type { CheckRegistry } from './check-registry.ts';

export const NODE_CHECKS = {
  'node.cvm.platform': { kind: 'authenticity', about: 'the CVM evidence names an unknown platform' },
  // The node's evidence as a whole bound to the node: one report per GPU, each GPU its own device.
  'node.gpu.missing': { kind: 'binding', about: 'fewer GPU reports than the node has GPUs' },
  'node.gpu.unexpected': { kind: 'binding', about: 'more GPU reports than the node has GPUs' },
  'node.gpu.duplicate': {
    kind: 'binding',
    about: "one UUID reported twice, or one device's evidence submitted for two GPUs",
  },
  'node.gpu.uuid': {
    kind: 'binding',
    about: 'a UUID brings another device than it was attested as before, or a device another UUID',
  },
  'node.cvm.reference-values': {
    kind: 'comparison',
    about: "the Manifest has no reference values for the CVM's platform",
  },
  'node.gpu.reference-values': { kind: 'comparison', about: 'the Manifest has no GPU reference values' },
  'node.gpu.mode': { kind: 'comparison', about: 'the GPUs of the node state different multi-GPU modes' },
  'coordinator.evidence.in-use': {
    kind: 'comparison',
    about:
      'authentic evidence of a CVM launch or GPU that another node holds (src/coordinator/identity-registry.ts); the holder may release it',
  },
} as const satisfies CheckRegistry;

export type NodeCheck = keyof typeof NODE_CHECKS;

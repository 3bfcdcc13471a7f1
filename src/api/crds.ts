/** Every CustomResourceDefinition attestor installs; crds/*.yaml is generated from these. */
import { aiWorkerCrd } from './aiworker.ts';
import { manifestCrd } from './manifest.ts';
import { nodeAttestationCrd } from './node-attestation.ts';
import type { CustomResourceDefinition } from './schema.ts';

export const crds: readonly CustomResourceDefinition[] = [manifestCrd, aiWorkerCrd, nodeAttestationCrd];

/**
 * Reads and writes NodeAttestation objects: one per GPU node, named after it, owned by the Node
 * (deleted with it). Status is replaced whole through the status subresource with the
 * resourceVersion read, retried on conflict, so no field of an older verdict survives.
 */
import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, VERSION } from '../api/common.ts';
import {
  NODE_ATTESTATION_KIND,
  NODE_ATTESTATION_PLURAL,
  type NodeAttestation,
  type NodeAttestationStatus,
} from '../api/node-attestation.ts';
import { isConflict, isNotFound } from '../errors.ts';
import type { AttestationStore } from './attestation-writer.ts';

const target = { group: GROUP, version: VERSION, plural: NODE_ATTESTATION_PLURAL };

export class NodeAttestationStore implements AttestationStore {
  readonly #custom: k8s.CustomObjectsApi;

  constructor(kubeConfig: k8s.KubeConfig) {
    this.#custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  }

  async get(name: string): Promise<NodeAttestation | undefined> {
    try {
      return (await this.#custom.getClusterCustomObject({ ...target, name })) as NodeAttestation;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The NodeAttestation of a node, created (owned by the Node) if missing. */
  async ensure(node: k8s.V1Node): Promise<NodeAttestation> {
    const name = node.metadata!.name!;
    const existing = await this.get(name);
    if (existing) return existing;
    try {
      return (await this.#custom.createClusterCustomObject({
        ...target,
        body: {
          apiVersion: API_VERSION,
          kind: NODE_ATTESTATION_KIND,
          metadata: {
            name,
            labels: { 'app.kubernetes.io/managed-by': 'attestor' },
            ownerReferences: [
              { apiVersion: 'v1', kind: 'Node', name, uid: node.metadata!.uid!, blockOwnerDeletion: false },
            ],
          },
          spec: {},
        },
      })) as NodeAttestation;
    } catch (err) {
      if (isConflict(err)) return (await this.get(name))!;
      throw err;
    }
  }

  /**
   * Replaces the status with what `update` makes of the current one; retries on conflicts.
   * `known` (just read or created) saves the first read; a conflict reads again.
   */
  async updateStatus(
    name: string,
    update: (current: NodeAttestationStatus | undefined) => NodeAttestationStatus | undefined,
    known?: NodeAttestation,
  ): Promise<NodeAttestation | undefined> {
    for (let attempt = 0; ; attempt++) {
      const current = attempt === 0 && known ? known : await this.get(name);
      if (!current) return undefined;
      const status = update(current.status);
      if (status === undefined) return current;
      // The generation the status was written for (kstatus): a status-only kind stays at 1.
      const next = { ...status, observedGeneration: current.metadata.generation };
      // A write that changes nothing is not made (a re-appraisal that reaches the same verdict).
      if (isDeepStrictEqual(jsonForm(next), jsonForm(current.status))) return current;
      try {
        return (await this.#custom.replaceClusterCustomObjectStatus({
          ...target,
          name,
          body: { ...current, status: next },
        })) as NodeAttestation;
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
      }
    }
  }
}

/** An object as JSON carries it (keys set to undefined are absent, Dates are strings). */
function jsonForm(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

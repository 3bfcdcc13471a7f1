/** The pods as the workload side reads and annotates them, on the API server (never a cache). */
import * as k8s from '@kubernetes/client-node';
import { WORKLOAD_CERTIFICATE_ANNOTATION } from '../api/aiworker-labels.ts';
import { isNotFound } from '../errors.ts';
import type { WorkloadPods } from './workloads.ts';

export class ApiWorkloadPods implements WorkloadPods {
  readonly #core: k8s.CoreV1Api;

  constructor(kubeConfig: k8s.KubeConfig) {
    this.#core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  }

  async read(namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
    try {
      return await this.#core.readNamespacedPod({ name, namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A merge patch with the pod's UID, which the API server checks: a pod recreated under the name gets nothing. */
  async recordCertificate(namespace: string, name: string, uid: string, pem: string): Promise<void> {
    await this.#core.patchNamespacedPod(
      { name, namespace, body: { metadata: { uid, annotations: { [WORKLOAD_CERTIFICATE_ANNOTATION]: pem } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }
}

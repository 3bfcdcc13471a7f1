/**
 * The NetworkPolicy an AIWorker becomes (pure builder, applied with server-side apply): ingress to
 * its pods only on the port its Service serves, which is the worker proxy's TLS port whenever the
 * pods have one. The model server's port is then reachable from no other pod, only from the proxy
 * beside it on localhost (which no NetworkPolicy sees). Egress is left open: `attestor init` and
 * the proxy must reach the Coordinator and the secret service, wherever the admin runs them.
 * A CNI enforces it on the node, which a pod CVM does not trust: it keeps other tenants out, not
 * the cluster admin (docs/design.md, "The AIWorker's Service targets the worker proxy").
 */
import type * as k8s from '@kubernetes/client-node';
import { type AIWorker, DEFAULT_PORT } from '../../api/aiworker.ts';
import { recommendedLabels, selectorLabels } from '../../api/aiworker-labels.ts';
import { hasWorkerProxy, ownerReference, type WorkloadPodSettings, workerProxyPort } from './workload.ts';

/** The one port other pods and clients may reach an AIWorker's pods on. */
export function admittedPort(worker: AIWorker, settings?: WorkloadPodSettings): number {
  const modelPort = worker.spec.port ?? DEFAULT_PORT;
  return hasWorkerProxy(worker, settings) ? workerProxyPort(modelPort) : modelPort;
}

export function desiredNetworkPolicy(worker: AIWorker, settings?: WorkloadPodSettings): k8s.V1NetworkPolicy {
  const name = worker.metadata.name!;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name,
      namespace: worker.metadata.namespace!,
      labels: recommendedLabels(name),
      ownerReferences: [ownerReference(worker)],
    },
    spec: {
      podSelector: { matchLabels: selectorLabels(name) },
      policyTypes: ['Ingress'],
      // The port's number, not its name: the object says which port it admits.
      ingress: [{ ports: [{ protocol: 'TCP', port: admittedPort(worker, settings) }] }],
    },
  };
}

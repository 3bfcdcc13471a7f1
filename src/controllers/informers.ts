/**
 * The informers attestor's controllers share, one per resource. Each keeps only the fields its
 * readers use (cache-fields.ts).
 */
import * as k8s from '@kubernetes/client-node';
import { AIWORKER_PLURAL, type AIWorker } from '../api/aiworker.ts';
import { GROUP, VERSION } from '../api/common.ts';
import { MANIFEST_PLURAL, type Manifest } from '../api/manifest.ts';
import { NODE_ATTESTATION_PLURAL, type NodeAttestation } from '../api/node-attestation.ts';
import type { Logger } from '../observability/log.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import {
  deploymentFields,
  namespaceFields,
  nodeFields,
  podFields,
  serviceFields,
  withoutManagedFields,
} from './cache-fields.ts';
import { Informer } from './runtime/informer.ts';

/** Label on everything the operator creates. */
export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=attestor';

export interface Informers {
  manifests: Informer<Manifest>;
  aiWorkers: Informer<AIWorker>;
  nodeAttestations: Informer<NodeAttestation>;
  nodes: Informer<k8s.V1Node>;
  deployments: Informer<k8s.V1Deployment>;
  services: Informer<k8s.V1Service>;
  pods: Informer<k8s.V1Pod>;
  /** The AIWorkers' NetworkPolicies. */
  networkPolicies: Informer<k8s.V1NetworkPolicy>;
  /** Every namespace (few and small): the AIWorker namespaces' mark. */
  namespaces: Informer<k8s.V1Namespace>;
  /** resource.k8s.io/v1 ResourceSlices (DRA): which nodes publish GPUs. Absent when turned off. */
  resourceSlices?: Informer<k8s.V1ResourceSlice>;
}

export interface InformerChoices {
  /** Watch ResourceSlices (the cluster must serve resource.k8s.io/v1, Kubernetes 1.34 and later). Default true. */
  resourceSlices?: boolean;
}

export function createInformers(
  kubeConfig: k8s.KubeConfig,
  log: Logger,
  metrics?: OperatorMetrics,
  choices: InformerChoices = {},
): Informers {
  const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  const resource = kubeConfig.makeApiClient(k8s.ResourceV1Api);
  const networking = kubeConfig.makeApiClient(k8s.NetworkingV1Api);
  const common = { kubeConfig, log, metrics };
  const listCustom =
    <T extends k8s.KubernetesObject>(plural: string) =>
    async () =>
      (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as k8s.KubernetesListObject<T>;
  return {
    manifests: new Informer<Manifest>({
      ...common,
      resource: MANIFEST_PLURAL,
      path: `/apis/${GROUP}/${VERSION}/${MANIFEST_PLURAL}`,
      transform: withoutManagedFields,
      list: listCustom<Manifest>(MANIFEST_PLURAL),
    }),
    aiWorkers: new Informer<AIWorker>({
      ...common,
      resource: AIWORKER_PLURAL,
      path: `/apis/${GROUP}/${VERSION}/${AIWORKER_PLURAL}`,
      transform: withoutManagedFields,
      list: listCustom<AIWorker>(AIWORKER_PLURAL),
    }),
    nodeAttestations: new Informer<NodeAttestation>({
      ...common,
      resource: NODE_ATTESTATION_PLURAL,
      path: `/apis/${GROUP}/${VERSION}/${NODE_ATTESTATION_PLURAL}`,
      transform: withoutManagedFields,
      list: listCustom<NodeAttestation>(NODE_ATTESTATION_PLURAL),
    }),
    nodes: new Informer<k8s.V1Node>({
      ...common,
      resource: 'nodes',
      path: '/api/v1/nodes',
      transform: nodeFields,
      list: () => core.listNode(),
    }),
    deployments: new Informer<k8s.V1Deployment>({
      ...common,
      resource: 'deployments',
      path: '/apis/apps/v1/deployments',
      labelSelector: MANAGED_BY_SELECTOR,
      transform: deploymentFields,
      list: () => apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR }),
    }),
    services: new Informer<k8s.V1Service>({
      ...common,
      resource: 'services',
      path: '/api/v1/services',
      labelSelector: MANAGED_BY_SELECTOR,
      transform: serviceFields,
      list: () => core.listServiceForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR }),
    }),
    pods: new Informer<k8s.V1Pod>({
      ...common,
      resource: 'pods',
      path: '/api/v1/pods',
      labelSelector: MANAGED_BY_SELECTOR,
      transform: podFields,
      list: () => core.listPodForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR }),
    }),
    networkPolicies: new Informer<k8s.V1NetworkPolicy>({
      ...common,
      resource: 'networkpolicies',
      path: '/apis/networking.k8s.io/v1/networkpolicies',
      labelSelector: MANAGED_BY_SELECTOR,
      transform: withoutManagedFields,
      list: () => networking.listNetworkPolicyForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR }),
    }),
    namespaces: new Informer<k8s.V1Namespace>({
      ...common,
      resource: 'namespaces',
      path: '/api/v1/namespaces',
      transform: namespaceFields,
      list: () => core.listNamespace(),
    }),
    ...(choices.resourceSlices !== false
      ? {
          resourceSlices: new Informer<k8s.V1ResourceSlice>({
            ...common,
            resource: 'resourceslices',
            path: '/apis/resource.k8s.io/v1/resourceslices',
            transform: withoutManagedFields,
            list: () => resource.listResourceSlice(),
          }),
        }
      : {}),
  };
}

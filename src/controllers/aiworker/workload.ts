/**
 * The Deployment and Service an AIWorker becomes: pure builders, applied with server-side apply.
 * A pod-CVM worker's pods get `attestor init` as their first container (it attests the pod VM and
 * its GPUs, activates the GPUs and writes the workload certificate to a memory-backed volume the
 * other containers share); a confidential-node worker's pods select attested GPU nodes, and get
 * `attestor init --confidential-node` (its node agent countersigns the pod's key) when the
 * operator has an init image.
 * Right after `attestor init` comes `attestor init --renew` as a native sidecar (an init container
 * with restartPolicy Always): the certificate lives one reattestationInterval, and the renewer
 * gets a new one with fresh evidence before it expires, or from the new mesh CA after a Manifest
 * change (a refusal removes cert.pem: fail closed).
 * Every pod with `attestor init` also gets `attestor worker-proxy` as a native sidecar after
 * those two: it serves TLS with the pod's workload certificate, decrypts requests and forwards them
 * to the model server on localhost; the AIWorker's Service targets it, never the model server.
 * `attestor aiworker render` prints the same pod, for genpolicy. `withWorkloadInit` adds the same
 * `attestor init` and renewer to any pod spec (the secret service's, the secret store's: pods of
 * no AIWorker, certified through their policy entry's role).
 */
import type * as k8s from '@kubernetes/client-node';
import { type AIWorker, DEFAULT_GPUS_PER_REPLICA, DEFAULT_PORT, DEFAULT_SERVICE_TYPE } from '../../api/aiworker.ts';
import {
  GPU_ATTESTED_LABEL,
  KATA_POLICY_ANNOTATION,
  POLICY_HASH_ANNOTATION,
  recommendedLabels,
  selectorLabels,
} from '../../api/aiworker-labels.ts';
import { API_VERSION } from '../../api/common.ts';
import { aiWorkerModel, DEPLOYMENT_MODEL_LABEL } from '../../api/deployment-model.ts';
import { DEFAULT_COUNTERSIGN_PORT, NODE_AGENT_AUDIENCE } from '../../protocol/countersignature.ts';
import { WORKLOAD_AUDIENCE } from '../../protocol/workload.ts';

/** What pod-CVM pods need to reach the Coordinator: operator flags (--init-image, --workload-coordinator-*). */
export interface WorkloadPodSettings {
  /** The `attestor init` image, pinned by digest (the operator's own). Absent: pod-CVM AIWorkers are held at 0 replicas. */
  initImage?: string;
  /** The Coordinator API as pods reach it, e.g. https://attestor-coordinator.attestor-system.svc:8443. */
  coordinatorUrl: string;
  /** PEM of the CA that signed the Coordinator's serving certificate (in the pod spec, so the pod's policy pins it). */
  coordinatorCaPem: string;
  /**
   * The secret service as pods reach it (https), the worker proxy's --secret-service (operator flag
   * --secret-service-url). Absent: the worker proxy knows no secret and refuses every request as
   * unknown_secret (fail closed: nothing reaches the model server).
   */
  secretServiceUrl?: string;
  /**
   * Development mode only (operator --development-roots --development-hardware-url): the simulated
   * hardware `attestor init` takes its pod VM and GPU evidence from instead of configfs-tsm and
   * NVML, with the pod's policy hash (its annotation) as HOST_DATA. Absent in production.
   */
  simulatedHardwareUrl?: string;
}

/** Where `attestor init` writes mesh-ca.pem, cert.pem and key.pem, in every container of a pod-CVM pod. */
export const WORKLOAD_CERTIFICATE_DIR = '/run/attestor';
/** Where its projected service account token (audience attestor-workload) is. */
export const WORKLOAD_TOKEN_DIR = '/var/run/secrets/attestor-workload';
export const INIT_CONTAINER_NAME = 'attestor-init';
/** `attestor init --renew`, the native sidecar that keeps the certificate current. */
export const RENEW_CONTAINER_NAME = 'attestor-renew';
export const WORKER_PROXY_CONTAINER_NAME = 'attestor-worker-proxy';
/** The worker proxy's TLS port, unless the model server has it (then WORKER_PROXY_ALTERNATE_PORT). */
export const WORKER_PROXY_PORT = 8443;
export const WORKER_PROXY_ALTERNATE_PORT = 9443;
/** The port name of the worker proxy's TLS port, which the AIWorker's Service targets. */
export const WORKER_PROXY_PORT_NAME = 'https';
/** The port the AIWorker's Service serves the worker proxy on. */
export const SERVICE_TLS_PORT = 443;
const CERTIFICATE_VOLUME = 'attestor-certificate';
const TOKEN_VOLUME = 'attestor-workload-token';
/** The confidential-node pod's token for its node agent, beside the workload token. */
const NODE_AGENT_TOKEN_FILE = 'node-agent-token';

export interface ResolvedPolicy {
  document: string;
  hash: string;
}

export function ownerReference(worker: AIWorker): k8s.V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'AIWorker',
    name: worker.metadata.name!,
    uid: worker.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * The Deployment for an AIWorker. `replicas` is the AIWorker's unless the controller must hold
 * it at zero (fail closed: no active Manifest, or the worker breaks it).
 */
export function desiredDeployment(
  worker: AIWorker,
  policy: ResolvedPolicy,
  replicas: number,
  settings?: WorkloadPodSettings,
): k8s.V1Deployment {
  const name = worker.metadata.name!;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: worker.metadata.namespace!,
      labels: recommendedLabels(name),
      ownerReferences: [ownerReference(worker)],
    },
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(name) },
      // GPUs are scarce: replace pods one at a time instead of surging extra ones.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: {
          labels: podLabels(worker),
          annotations: {
            [KATA_POLICY_ANNOTATION]: Buffer.from(policy.document, 'utf8').toString('base64'),
            [POLICY_HASH_ANNOTATION]: policy.hash,
          },
        },
        spec: podSpec(worker, settings),
      },
    },
  };
}

/** The labels of an AIWorker's pods: the recommended ones and its deployment model. */
export function podLabels(worker: AIWorker): Record<string, string> {
  return { ...recommendedLabels(worker.metadata.name!), [DEPLOYMENT_MODEL_LABEL]: aiWorkerModel(worker.spec) };
}

/**
 * The spec of an AIWorker's pods. pod-cvm: `attestor init` first (the pod's GPUs, its token, the
 * certificate volume), no node selector (the pod is gated by its own evidence). confidential-node:
 * only attested GPU nodes, and, when the operator has an init image, `attestor init
 * --confidential-node` first (its node agent countersigns the pod's key; no GPUs of its own).
 */
export function podSpec(worker: AIWorker, settings?: WorkloadPodSettings): k8s.V1PodSpec {
  const spec = worker.spec;
  const port = spec.port ?? DEFAULT_PORT;
  const gpus = String(spec.gpusPerReplica ?? DEFAULT_GPUS_PER_REPLICA);
  const podCvm = aiWorkerModel(spec) === 'pod-cvm';
  const withInit = hasWorkerProxy(worker, settings);
  const server: k8s.V1Container = {
    name: 'server',
    image: spec.image,
    args: ['--model', spec.model, '--port', String(port), ...(spec.args ?? [])],
    ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
    resources: {
      requests: { ...spec.resources?.requests, 'nvidia.com/gpu': gpus },
      limits: { ...spec.resources?.limits, 'nvidia.com/gpu': gpus },
    },
    readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10 },
    securityContext: { allowPrivilegeEscalation: false },
    ...(withInit
      ? { volumeMounts: [{ name: CERTIFICATE_VOLUME, mountPath: WORKLOAD_CERTIFICATE_DIR, readOnly: true }] }
      : {}),
  };
  const base: k8s.V1PodSpec = {
    runtimeClassName: spec.runtimeClassName,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    containers: [server],
    ...(podCvm ? {} : { nodeSelector: { [GPU_ATTESTED_LABEL]: 'true' } }),
  };
  if (!withInit) return base;
  const tokens: k8s.V1VolumeProjection[] = [
    { serviceAccountToken: { path: 'token', audience: WORKLOAD_AUDIENCE, expirationSeconds: 3600 } },
  ];
  // A token for the node agent of its own audience: the agent cannot replay it to the Coordinator.
  if (!podCvm)
    tokens.push({
      serviceAccountToken: { path: NODE_AGENT_TOKEN_FILE, audience: NODE_AGENT_AUDIENCE, expirationSeconds: 3600 },
    });
  return {
    ...base,
    initContainers: [
      ...certifyingContainers(podCvm ? initContainer(gpus, settings) : confidentialNodeInitContainer(settings)),
      workerProxyContainer(port, settings),
    ],
    volumes: podCvmVolumes(tokens),
  };
}

/** Whether an AIWorker's pods get `attestor init` and the worker proxy: pod-CVM always, confidential-node with an init image. */
export function hasWorkerProxy(worker: AIWorker, settings?: WorkloadPodSettings): boolean {
  return aiWorkerModel(worker.spec) === 'pod-cvm' || settings?.initImage !== undefined;
}

/** The worker proxy's TLS port in a pod whose model server listens on `modelPort`. */
export function workerProxyPort(modelPort: number): number {
  return modelPort === WORKER_PROXY_PORT ? WORKER_PROXY_ALTERNATE_PORT : WORKER_PROXY_PORT;
}

/**
 * `attestor worker-proxy` as a native sidecar: an init container with restartPolicy Always after
 * `attestor init` and its renewer, so it starts only once the certificate is written, and runs beside the model
 * server for the pod's life. The operator's image; the certificate volume read-only; the model
 * server on localhost (`--upstream`); the secret service when the operator names one.
 */
function workerProxyContainer(modelPort: number, settings: WorkloadPodSettings | undefined): k8s.V1Container {
  const port = workerProxyPort(modelPort);
  return {
    name: WORKER_PROXY_CONTAINER_NAME,
    image: settings?.initImage ?? '',
    restartPolicy: 'Always',
    args: [
      'worker-proxy',
      `--listen=0.0.0.0:${port}`,
      `--certificate-dir=${WORKLOAD_CERTIFICATE_DIR}`,
      `--upstream=http://127.0.0.1:${modelPort}`,
      ...(settings?.secretServiceUrl ? [`--secret-service=${settings.secretServiceUrl}`] : []),
    ],
    ports: [{ name: WORKER_PROXY_PORT_NAME, containerPort: port, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/healthz', port: WORKER_PROXY_PORT_NAME, scheme: 'HTTPS' }, periodSeconds: 10 },
    livenessProbe: { httpGet: { path: '/healthz', port: WORKER_PROXY_PORT_NAME, scheme: 'HTTPS' }, periodSeconds: 20 },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    // Root without capabilities: key.pem is root's, 0400 (attestor init writes it).
    securityContext: INIT_SECURITY_CONTEXT,
    volumeMounts: [{ name: CERTIFICATE_VOLUME, mountPath: WORKLOAD_CERTIFICATE_DIR, readOnly: true }],
  };
}

/**
 * A pod-CVM pod spec of no AIWorker (a secret-service or secret-store pod) with `attestor init`
 * added as its first init container and `attestor init --renew` as the second (a native sidecar),
 * as an AIWorker's pods have them: its projected token (audience attestor-workload), the
 * memory-backed certificate volume, writable for those two and mounted read-only at
 * WORKLOAD_CERTIFICATE_DIR in every other container, the Coordinator's URL and CA. `gpus`: how many GPUs
 * the pod has (default none: `--no-gpus`). Pure: the spec given is not changed. The pod's Kata
 * policy must allow the result (genpolicy over it), and be the Manifest entry of the pod's role.
 */
export function withWorkloadInit(
  spec: k8s.V1PodSpec,
  settings: WorkloadPodSettings,
  options: { gpus?: number } = {},
): k8s.V1PodSpec {
  const mount: k8s.V1VolumeMount = { name: CERTIFICATE_VOLUME, mountPath: WORKLOAD_CERTIFICATE_DIR, readOnly: true };
  const withMount = (c: k8s.V1Container): k8s.V1Container => ({
    ...c,
    volumeMounts: [...(c.volumeMounts ?? []), mount],
  });
  const gpus = options.gpus ? String(options.gpus) : undefined;
  return {
    ...spec,
    initContainers: [
      ...certifyingContainers(initContainer(gpus, settings)),
      ...(spec.initContainers ?? []).map(withMount),
    ],
    containers: spec.containers.map(withMount),
    volumes: [
      ...(spec.volumes ?? []),
      ...podCvmVolumes([
        { serviceAccountToken: { path: 'token', audience: WORKLOAD_AUDIENCE, expirationSeconds: 3600 } },
      ]),
    ],
  };
}

/**
 * `attestor init` and, right after it, its renewer: the same container (image, token, settings,
 * security context, the certificate volume writable: it writes cert.pem by rename and removes it
 * on a refusal) with `--renew`, as a native sidecar that runs for the pod's life. The renewer
 * requests no GPUs: a native sidecar's requests add to the model server's (and podGpuCount counts
 * them), so asking for the pod's GPUs again would double them. With GPUs it still attests them
 * (no --no-gpus), so it needs NVML access to the pod VM's GPUs without an allocation of its own
 * (docs/design.md: "The renewer requests no GPUs; in a pod with GPUs it still attests them").
 */
function certifyingContainers(init: k8s.V1Container): k8s.V1Container[] {
  const withoutGpus = (amounts: Record<string, string> | undefined) => {
    if (!amounts) return amounts;
    const { 'nvidia.com/gpu': _, ...rest } = amounts;
    return rest;
  };
  const renew: k8s.V1Container = {
    ...init,
    name: RENEW_CONTAINER_NAME,
    restartPolicy: 'Always',
    args: [...(init.args ?? []), '--renew'],
    ...(init.resources
      ? { resources: { requests: withoutGpus(init.resources.requests), limits: withoutGpus(init.resources.limits) } }
      : {}),
  };
  return [init, renew];
}

/** The certificate volume (memory-backed: the key never touches the node's disk) and the projected tokens. */
function podCvmVolumes(tokens: k8s.V1VolumeProjection[]): k8s.V1Volume[] {
  return [
    { name: CERTIFICATE_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: TOKEN_VOLUME, projected: { sources: tokens } },
  ];
}

/**
 * `attestor init`: the pod's GPUs (the same count as the server, which reuses them; none:
 * `--no-gpus`), root of the pod VM without capabilities (configfs-tsm's report directory is
 * root's), the pod's token.
 */
function initContainer(gpus: string | undefined, settings: WorkloadPodSettings | undefined): k8s.V1Container {
  const gpuResources: Record<string, string> = gpus ? { 'nvidia.com/gpu': gpus } : {};
  return {
    name: INIT_CONTAINER_NAME,
    image: settings?.initImage ?? '',
    args: [
      'init',
      `--coordinator=${settings?.coordinatorUrl ?? ''}`,
      `--out=${WORKLOAD_CERTIFICATE_DIR}`,
      `--token-file=${WORKLOAD_TOKEN_DIR}/token`,
      ...(gpus ? [] : ['--no-gpus']),
      ...(settings?.simulatedHardwareUrl
        ? [`--simulated-hardware=${settings.simulatedHardwareUrl}`, ...(gpus ? [`--simulated-gpus=${gpus}`] : [])]
        : []),
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'ATTESTOR_COORDINATOR_CA', value: settings?.coordinatorCaPem ?? '' },
      ...(settings?.simulatedHardwareUrl
        ? [
            {
              name: 'ATTESTOR_SIMULATED_POLICY_HASH',
              valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${POLICY_HASH_ANNOTATION}']` } },
            },
          ]
        : []),
    ],
    resources: {
      requests: { cpu: '50m', memory: '64Mi', ...gpuResources },
      limits: { memory: '128Mi', ...gpuResources },
    },
    securityContext: INIT_SECURITY_CONTEXT,
    volumeMounts: [
      { name: CERTIFICATE_VOLUME, mountPath: WORKLOAD_CERTIFICATE_DIR },
      { name: TOKEN_VOLUME, mountPath: WORKLOAD_TOKEN_DIR, readOnly: true },
    ],
  };
}

/**
 * `attestor init --confidential-node`: no GPUs and no evidence of its own (the node agent attested
 * the node and activated its GPUs); it reaches its node's agent on the agent's hostPort at the
 * node IP (the downward API's status.hostIP).
 */
function confidentialNodeInitContainer(settings: WorkloadPodSettings | undefined): k8s.V1Container {
  return {
    name: INIT_CONTAINER_NAME,
    image: settings?.initImage ?? '',
    args: [
      'init',
      '--confidential-node',
      `--coordinator=${settings?.coordinatorUrl ?? ''}`,
      `--node-agent=http://$(HOST_IP):${DEFAULT_COUNTERSIGN_PORT}`,
      `--out=${WORKLOAD_CERTIFICATE_DIR}`,
      `--token-file=${WORKLOAD_TOKEN_DIR}/token`,
      `--node-agent-token-file=${WORKLOAD_TOKEN_DIR}/${NODE_AGENT_TOKEN_FILE}`,
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      { name: 'ATTESTOR_COORDINATOR_CA', value: settings?.coordinatorCaPem ?? '' },
    ],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    securityContext: INIT_SECURITY_CONTEXT,
    volumeMounts: [
      { name: CERTIFICATE_VOLUME, mountPath: WORKLOAD_CERTIFICATE_DIR },
      { name: TOKEN_VOLUME, mountPath: WORKLOAD_TOKEN_DIR, readOnly: true },
    ],
  };
}

/** Root without capabilities: writes key.pem (0400) as the pod-CVM init does. */
const INIT_SECURITY_CONTEXT: k8s.V1SecurityContext = {
  runAsUser: 0,
  runAsNonRoot: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/**
 * The AIWorker's Service. With the worker proxy it serves only the proxy's TLS port (on 443): the
 * model server's port is on no Service, and clients never reach it in plaintext through one.
 * Without (a confidential-node worker and an operator without an init image) the model server's.
 * Its type and annotations are the worker's `spec.service` (default a ClusterIP Service without
 * annotations): a LoadBalancer or NodePort passes TCP, so TLS still ends in the worker proxy.
 */
export function desiredService(worker: AIWorker, settings?: WorkloadPodSettings): k8s.V1Service {
  const name = worker.metadata.name!;
  const port = worker.spec.port ?? DEFAULT_PORT;
  const ports: k8s.V1ServicePort[] = hasWorkerProxy(worker, settings)
    ? [{ name: WORKER_PROXY_PORT_NAME, port: SERVICE_TLS_PORT, targetPort: WORKER_PROXY_PORT_NAME, protocol: 'TCP' }]
    : [{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }];
  const annotations = worker.spec.service?.annotations;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: worker.metadata.namespace!,
      labels: recommendedLabels(name),
      ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
      ownerReferences: [ownerReference(worker)],
    },
    spec: {
      type: worker.spec.service?.type ?? DEFAULT_SERVICE_TYPE,
      selector: selectorLabels(name),
      ports,
    },
  };
}

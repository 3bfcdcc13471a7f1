/**
 * The AIWorker resource: a confidential GPU inference server. The operator turns it into a
 * Deployment (confidential runtime class, policy annotation, GPU requests) and a Service.
 */
import {
  type Condition,
  conditionsSchema,
  customResourceDefinition,
  dnsSubdomainPattern,
  type GROUP,
  hexSchema,
  type VERSION,
} from './common.ts';
import { DEFAULT_DEPLOYMENT_MODEL, DEPLOYMENT_MODELS, type DeploymentModel } from './deployment-model.ts';
import type { JSONSchemaProps } from './schema.ts';

export const AIWORKER_KIND = 'AIWorker';
export const AIWORKER_PLURAL = 'aiworkers';

export interface AIWorkerPolicy {
  /** A ConfigMap in the AIWorker's namespace holding the policy document. */
  configMapRef?: { name: string; key?: string };
  /** The policy document itself. */
  inline?: string;
}

/** How clients reach the worker proxies: the Service the operator creates for the AIWorker. */
export interface AIWorkerService {
  /** ClusterIP (default), LoadBalancer or NodePort. */
  type?: AIWorkerServiceType;
  /** Annotations on the Service, e.g. a cloud's load-balancer settings. */
  annotations?: Record<string, string>;
}

export const AIWORKER_SERVICE_TYPES = ['ClusterIP', 'LoadBalancer', 'NodePort'] as const;
export type AIWorkerServiceType = (typeof AIWORKER_SERVICE_TYPES)[number];
export const DEFAULT_SERVICE_TYPE: AIWorkerServiceType = 'ClusterIP';

export interface AIWorkerSpec {
  /** Container image, pinned by digest (name@sha256:...). */
  image: string;
  /** Model the server loads (passed as --model). */
  model: string;
  replicas?: number;
  gpusPerReplica?: number;
  runtimeClassName: string;
  policy: AIWorkerPolicy;
  port?: number;
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** How the pods are attested (deployment-model.ts); absent: pod-cvm. */
  deploymentModel?: DeploymentModel;
  service?: AIWorkerService;
}

export interface AIWorkerStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  attestedReplicas?: number;
  selector?: string;
  policyHash?: string;
  conditions?: Condition[];
}

export interface AIWorker {
  apiVersion: `${typeof GROUP}/${typeof VERSION}`;
  kind: typeof AIWORKER_KIND;
  metadata: import('@kubernetes/client-node').V1ObjectMeta;
  spec: AIWorkerSpec;
  status?: AIWorkerStatus;
}

/**
 * The operator labels every namespace that holds an AIWorker with this (value "true") before it
 * creates the worker's pods, and removes it when the last one is gone: the binding webhook judges
 * bindings in such namespaces (and in enforced ones) only.
 */
export const AI_WORKER_NAMESPACE_LABEL = 'attestor.dev/ai-workers';

export const DEFAULT_PORT = 8000;
/** A Kubernetes qualified name, an annotation key: an optional DNS subdomain prefix and "/", then a name. */
export const ANNOTATION_KEY_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
export const DEFAULT_GPUS_PER_REPLICA = 1;
export const IMAGE_DIGEST_PATTERN =
  '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\\w][\\w.-]{0,127})?@sha256:[0-9a-f]{64}$';

const quantity: JSONSchemaProps = {
  'x-kubernetes-int-or-string': true,
  pattern:
    '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
};

const aiWorkerSpecSchema: JSONSchemaProps = {
  type: 'object',
  description: 'A confidential GPU inference server.',
  required: ['image', 'model', 'runtimeClassName', 'policy'],
  properties: {
    image: {
      type: 'string',
      maxLength: 512,
      description:
        'Container image pinned by digest, e.g. ghcr.io/org/server@sha256:<64 hex>. Tags alone are refused: the policy must name exactly what runs.',
      'x-kubernetes-validations': [
        {
          rule: `self.matches('${IMAGE_DIGEST_PATTERN.replace(/\\/g, '\\\\')}')`,
          message: 'must be pinned by digest: <name>@sha256:<64 lower-case hex>',
        },
      ],
    },
    model: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'Model the server loads, e.g. meta-llama/Llama-3.1-8B-Instruct.',
    },
    replicas: { type: 'integer', minimum: 0, maximum: 1000, default: 1, description: 'Number of replicas. Default 1.' },
    gpusPerReplica: {
      type: 'integer',
      minimum: 1,
      maximum: 16,
      default: DEFAULT_GPUS_PER_REPLICA,
      description: 'nvidia.com/gpu each replica requests. Default 1.',
    },
    runtimeClassName: {
      type: 'string',
      maxLength: 253,
      pattern: dnsSubdomainPattern,
      description: 'Confidential RuntimeClass; must be one the active Manifest allows.',
    },
    policy: {
      type: 'object',
      description:
        'The workload policy (Kata agent policy / initdata) the pods run under; its SHA-256 must be listed in the active Manifest. Exactly one of configMapRef and inline.',
      properties: {
        configMapRef: {
          type: 'object',
          required: ['name'],
          properties: {
            name: {
              type: 'string',
              maxLength: 253,
              pattern: dnsSubdomainPattern,
              description: 'ConfigMap in this namespace.',
            },
            key: { type: 'string', maxLength: 253, description: 'Key in the ConfigMap. Default policy.rego.' },
          },
        },
        inline: { type: 'string', minLength: 1, maxLength: 262144, description: 'The policy document itself.' },
      },
      'x-kubernetes-validations': [
        { rule: 'has(self.configMapRef) != has(self.inline)', message: 'set exactly one of configMapRef and inline' },
      ],
    },
    port: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: DEFAULT_PORT,
      description: 'Port the server listens on. Default 8000.',
    },
    args: {
      type: 'array',
      maxItems: 64,
      items: { type: 'string', maxLength: 4096 },
      description: 'Extra arguments for the server.',
    },
    deploymentModel: {
      type: 'string',
      enum: [...DEPLOYMENT_MODELS],
      description: `How the pods are attested. pod-cvm: each pod is its own confidential VM (the runtime class a Kata / Confidential Containers one, GPUs passed through); the operator adds \`attestor init\`, which attests the pod VM and its GPUs to the Coordinator, activates the GPUs and writes the pod's workload certificate; the node is not gated; the active Manifest must have pod-role CVM entries. confidential-node: the node is the CVM, attested by the node agent; the pods run only on attested GPU nodes; the active Manifest must have node-role CVM entries (this model trusts the cluster admin). An AIWorker whose model the active Manifest does not enable is held at 0 replicas. Default ${DEFAULT_DEPLOYMENT_MODEL}.`,
    },
    service: {
      type: 'object',
      description:
        "The Service the operator creates for the worker. It serves only the worker proxy's TLS port (443): clients outside the cluster reach the proxies through a LoadBalancer or NodePort, or through a TLS-passthrough proxy; never through an Ingress that terminates TLS, because the client must see the pod's own workload certificate (docs/install.md). Default: a ClusterIP Service without annotations.",
      properties: {
        type: {
          type: 'string',
          enum: [...AIWORKER_SERVICE_TYPES],
          default: DEFAULT_SERVICE_TYPE,
          description: `ClusterIP (reachable inside the cluster only), LoadBalancer or NodePort (reachable from outside). Default ${DEFAULT_SERVICE_TYPE}.`,
        },
        annotations: {
          type: 'object',
          additionalProperties: { type: 'string', maxLength: 4096 },
          maxProperties: 32,
          description:
            "Annotations on the Service, e.g. a cloud's load-balancer settings (internal, source ranges, TCP passthrough). Keys are Kubernetes qualified names ([prefix/]name). Default none.",
          // Refused here, not by the Service apply later, where the error would only reach the operator's log.
          'x-kubernetes-validations': [
            {
              rule: `self.all(k, size(k) <= 317 && k.matches('${ANNOTATION_KEY_PATTERN.replace(/\\/g, '\\\\')}'))`,
              message:
                'annotation keys must be qualified names: an optional DNS subdomain prefix and "/", then a name of at most 63 characters',
            },
          ],
        },
      },
    },
    resources: {
      type: 'object',
      description: 'CPU and memory for each replica (GPUs come from gpusPerReplica).',
      properties: {
        requests: { type: 'object', additionalProperties: quantity, maxProperties: 16 },
        limits: { type: 'object', additionalProperties: quantity, maxProperties: 16 },
      },
    },
  },
};

export const aiWorkerCrd = customResourceDefinition({
  kind: AIWORKER_KIND,
  listKind: 'AIWorkerList',
  plural: AIWORKER_PLURAL,
  singular: 'aiworker',
  shortNames: ['aiw'],
  scope: 'Namespaced',
  subresources: {
    status: {},
    scale: {
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    },
  },
  printerColumns: [
    { name: 'Model', type: 'string', jsonPath: '.spec.model' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    {
      name: 'Attested',
      type: 'integer',
      jsonPath: '.status.attestedReplicas',
      description:
        'pod-cvm: pods that hold a current workload certificate; confidential-node: ready pods on attested GPU nodes.',
    },
    { name: 'Status', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Runtime', type: 'string', jsonPath: '.spec.runtimeClassName', priority: 1 },
    { name: 'Deployment', type: 'string', jsonPath: '.spec.deploymentModel', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  schema: {
    type: 'object',
    description:
      'AIWorker is a confidential GPU inference server: the operator runs it as a Deployment with a confidential runtime class, a Manifest-approved policy and GPUs only on attested nodes.',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: aiWorkerSpecSchema,
      status: {
        type: 'object',
        description: 'Observed state, written by the operator.',
        properties: {
          observedGeneration: {
            type: 'integer',
            format: 'int64',
            description:
              'The metadata.generation this status was written for; older than metadata.generation while the operator has not acted on the latest spec.',
          },
          replicas: { type: 'integer', description: 'Pods that exist.' },
          readyReplicas: { type: 'integer', description: 'Pods that are ready.' },
          attestedReplicas: {
            type: 'integer',
            description:
              'pod-cvm: pods that hold a current workload certificate (issued from the mesh CA of the active Manifest, not expired); confidential-node: ready pods on nodes whose attestation is current.',
          },
          selector: { type: 'string', description: 'Label selector of the pods (for the scale subresource).' },
          policyHash: hexSchema(32, 'SHA-256 of the policy the pods run under'),
          conditions: {
            ...conditionsSchema,
            description:
              'PolicyCompliant (runtime class, policy and deployment model allowed by the active Manifest), and the kstatus summary: Ready (every desired replica ready and attested), Reconciling (present while replicas are starting, waiting for attested nodes or for their workload certificates), Stalled (present while the worker breaks the active Manifest or its policy cannot be read: held at 0 replicas until someone changes the worker or the Manifest).',
          },
        },
      },
    },
  },
});

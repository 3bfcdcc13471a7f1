/** API group, version and the schema pieces all attestor resources share. */
import type { CustomResourceDefinition, JSONSchemaProps, PrinterColumn } from './schema.ts';

export const GROUP = 'attestor.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A Kubernetes condition (metav1.Condition). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export const conditionsSchema: JSONSchemaProps = {
  type: 'array',
  description: 'Standard conditions (type, status, reason, message, observedGeneration, lastTransitionTime).',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  maxItems: 16,
  items: {
    type: 'object',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: { type: 'string', maxLength: 316, description: 'Type of condition in CamelCase.' },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'], description: 'True, False or Unknown.' },
      reason: { type: 'string', maxLength: 1024, description: 'Machine-readable reason in CamelCase.' },
      message: { type: 'string', maxLength: 32768, description: 'Human-readable details.' },
      observedGeneration: {
        type: 'integer',
        format: 'int64',
        minimum: 0,
        description: 'The .metadata.generation the condition was set for.',
      },
      lastTransitionTime: { type: 'string', format: 'date-time', description: 'When the status last changed.' },
    },
  },
};

export function hexSchema(bytes: number, description: string): JSONSchemaProps {
  return {
    type: 'string',
    description: `${description} (${bytes} bytes as ${bytes * 2} lower-case hex characters).`,
    pattern: `^[0-9a-f]{${bytes * 2}}$`,
    minLength: bytes * 2,
    maxLength: bytes * 2,
  };
}

/** A Go duration such as 30s, 5m, 1h30m. */
export const durationPattern = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

/** RFC 1123 DNS label, as Kubernetes names of runtime classes, ConfigMaps, ... */
export const dnsSubdomainPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

export interface CrdOptions {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Cluster' | 'Namespaced';
  subresources: NonNullable<CustomResourceDefinition['spec']['versions'][number]['subresources']>;
  printerColumns: PrinterColumn[];
  schema: JSONSchemaProps;
}

/** An attestor CRD: one served and stored version, in the `attestor` category. */
export function customResourceDefinition(o: CrdOptions): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${o.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'attestor', 'app.kubernetes.io/managed-by': 'attestor' },
    },
    spec: {
      group: GROUP,
      scope: o.scope,
      names: {
        kind: o.kind,
        listKind: o.listKind,
        plural: o.plural,
        singular: o.singular,
        shortNames: o.shortNames,
        categories: ['attestor'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: o.subresources,
          additionalPrinterColumns: o.printerColumns,
          schema: { openAPIV3Schema: o.schema },
        },
      ],
    },
  };
}

/**
 * Which nodes are GPU nodes (closed to AI workers until they attest) and how many GPUs they hold,
 * from what the node and its DRA driver publish: device-plugin capacity (`nvidia.com/gpu`, MIG
 * resources `nvidia.com/mig-*`), ResourceSlices of NVIDIA's DRA driver, and the platform's label.
 * One pure function, shared by the node gating controller, the Coordinator (how many GPU reports
 * a node owes) and the attestor_gpu_nodes gauge, so that they cannot disagree about which nodes
 * must attest.
 */
import type * as k8s from '@kubernetes/client-node';
import { GPU_NODE_LABEL } from './node-gating.ts';

/** Device-plugin resource of whole GPUs. */
export const GPU_RESOURCE = 'nvidia.com/gpu';
/** Device-plugin resources of MIG instances (mixed strategy), e.g. nvidia.com/mig-1g.10gb. */
export const MIG_RESOURCE_PREFIX = 'nvidia.com/mig-';
/** GPU Feature Discovery's count of physical GPUs. */
export const GPU_COUNT_LABEL = 'nvidia.com/gpu.count';
/** DRA drivers whose devices are NVIDIA GPUs (k8s-dra-driver-gpu). */
export const GPU_DRA_DRIVERS: readonly string[] = ['gpu.nvidia.com'];

/** The parts of a resource.k8s.io/v1 ResourceSlice this reads (a V1ResourceSlice is one). */
export interface GpuResourceSlice {
  spec: {
    driver: string;
    nodeName?: string;
    devices?: Array<{ name: string; attributes?: Record<string, { string?: string } | undefined> }>;
  };
}

export interface GpuNode {
  /** Whether this is a GPU node: closed to AI workers until it attests, so GPU pods run there only after that. */
  gpuNode: boolean;
  /**
   * The most physical GPUs any source claims (evidence must cover at least these; fail closed).
   * 0 on a GPU node means the count is unknown, e.g. MIG resources without GPU Feature Discovery.
   */
  gpus: number;
  /** Why it is a GPU node, for logs and events: e.g. ["capacity nvidia.com/gpu=8", "ResourceSlice gpu.nvidia.com: 8 GPUs"]. */
  sources: string[];
}

/**
 * Whether a node is a GPU node, and how many GPUs it has. `slices` may hold every ResourceSlice of
 * the cluster: only those of NVIDIA's GPU driver published for this node count. A quantity that
 * does not read as a number still makes the node a GPU node (closed until it attests, rather than never checked).
 */
export function gpuNode(
  node: k8s.V1Node,
  slices: readonly GpuResourceSlice[] = [],
  drivers: readonly string[] = GPU_DRA_DRIVERS,
): GpuNode {
  const name = node.metadata?.name;
  const sources: string[] = [];
  let gpus = 0;
  const capacity = { ...node.status?.allocatable, ...node.status?.capacity };
  for (const [resource, quantity] of Object.entries(capacity)) {
    if (resource !== GPU_RESOURCE && !resource.startsWith(MIG_RESOURCE_PREFIX)) continue;
    const count = countOf(quantity);
    if (count === 0) continue;
    sources.push(`capacity ${resource}=${quantity}`);
    // MIG instances are slices of GPUs: they make a GPU node, but do not count GPUs.
    if (resource === GPU_RESOURCE && count !== undefined) gpus = Math.max(gpus, count);
  }
  const physical = new Set<string>();
  const publishing = new Set<string>();
  for (const slice of slices) {
    if (!name || slice.spec.nodeName !== name || !drivers.includes(slice.spec.driver)) continue;
    for (const device of slice.spec.devices ?? []) {
      publishing.add(slice.spec.driver);
      physical.add(physicalGpu(slice.spec.driver, device));
    }
  }
  if (physical.size > 0) {
    sources.push(`ResourceSlice ${[...publishing].join(',')}: ${physical.size} GPUs`);
    gpus = Math.max(gpus, physical.size);
  }
  const labels = node.metadata?.labels ?? {};
  if (labels[GPU_NODE_LABEL] === 'true') sources.push(`label ${GPU_NODE_LABEL}=true`);
  const labelled = countOf(labels[GPU_COUNT_LABEL]);
  // GPU Feature Discovery's count only counts where something else says this is a GPU node.
  if (sources.length > 0 && labelled !== undefined) gpus = Math.max(gpus, labelled);
  return { gpuNode: sources.length > 0, gpus, sources };
}

/** A DRA device's physical GPU: a MIG device's parent, otherwise the device itself. */
function physicalGpu(
  driver: string,
  device: { name: string; attributes?: Record<string, { string?: string } | undefined> },
): string {
  const attributes = device.attributes ?? {};
  const parent = attributes.parentUUID?.string;
  if (parent) return parent;
  return attributes.uuid?.string ?? `${driver}/${device.name}`;
}

/** A count from a quantity or label value; undefined when it does not read as a whole number. */
function countOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return 0;
  const text = String(value).trim();
  if (!/^\d+$/.test(text)) return undefined;
  return Number(text);
}

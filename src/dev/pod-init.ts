/**
 * `attestor init` for the pod-CVM AI worker pods of `attestor dev`, whose pods run on kwok nodes
 * (nothing runs their containers): for each such pod, once it is scheduled, a local WorkloadInit
 * with what the pod's own init container would have. A projected token of the pod's service
 * account bound to the pod (audience attestor-workload), as the kubelet would project it; a
 * simulated pod VM (SEV-SNP or TDX, alternating) whose HOST_DATA / MRCONFIGID is the hash of the
 * pod's policy annotation; simulated GPUs, as many as the pod asks for; and a directory in the
 * state directory as its memory-backed volume. It then renews the certificate as the sidecar
 * would (`attestor init --renew`), until the pod is gone or dev stops.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { CoordinatorClient } from '../agent/coordinator-client.ts';
import {
  SIMULATED_POD_MEASUREMENT,
  SIMULATED_POD_MRTD,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../agent/evidence/simulated.ts';
import { WorkloadInit } from '../agent/workload-init.ts';
import { KATA_POLICY_ANNOTATION } from '../api/aiworker-labels.ts';
import { isPodCvmWorkerPod } from '../api/deployment-model.ts';
import type { Informer } from '../controllers/runtime/informer.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { WORKLOAD_AUDIENCE } from '../protocol/workload.ts';
import { requestPodToken } from './pod-token.ts';

export interface DevPodInitOptions {
  kubeConfig: k8s.KubeConfig;
  pods: Informer<k8s.V1Pod>;
  platform: SimulatedPlatform;
  coordinatorUrl: string;
  /** The CA of the Coordinator's serving certificate. */
  coordinatorCaPem: string;
  /** Where each pod's volume goes (<dir>/<namespace>/<pod>). */
  dir: string;
  log: Logger;
  print: (line: string) => void;
  /** How often renewal asks whether the mesh CA changed. */
  checkIntervalMs?: number;
  /** Told each time a pod's init wrote its first certificate: the pod and its volume. */
  onCertified?: (pod: k8s.V1Pod, dir: string) => void;
}

export interface DevPodInits {
  /** The pods whose init ran, by UID: where each wrote its files. */
  readonly started: ReadonlyMap<string, string>;
  /**
   * Runs the init of a pod of no AIWorker (a secret-service or secret-store pod, which the
   * operator's pod cache does not hold), once it is scheduled, as for an AI worker pod.
   */
  certify(pod: k8s.V1Pod): void;
  stop(): Promise<void>;
}

export function runDevPodInits(options: DevPodInitOptions): DevPodInits {
  const core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const abort = new AbortController();
  const started = new Map<string, string>();
  const runs = new Map<string, { abort: AbortController; done: Promise<void> }>();
  let count = 0;

  const start = (cached: k8s.V1Pod, rolePod = false) => {
    const uid = cached.metadata?.uid;
    const { name, namespace } = cached.metadata ?? {};
    if (!uid || !name || !namespace || runs.has(uid) || abort.signal.aborted) return;
    if (!(rolePod || isPodCvmWorkerPod(cached.metadata?.labels))) return;
    if (!cached.spec?.nodeName || cached.metadata?.deletionTimestamp) return;
    const own = new AbortController();
    const signal = AbortSignal.any([abort.signal, own.signal]);
    const done = (async () => {
      // The operator's pod cache keeps neither the Kata policy nor the containers
      // (controllers/cache-fields.ts): the pod as the API server has it, read once.
      const pod = rolePod ? cached : await core.readNamespacedPod({ name, namespace }).catch(() => undefined);
      const policy = pod?.metadata?.uid === uid ? pod.metadata?.annotations?.[KATA_POLICY_ANNOTATION] : undefined;
      if (!pod?.spec || !policy || signal.aborted) {
        runs.delete(uid);
        return;
      }
      await run(pod, pod.spec, uid, name, namespace, policy, signal);
    })();
    runs.set(uid, { abort: own, done });
  };

  const run = async (
    pod: k8s.V1Pod,
    spec: k8s.V1PodSpec,
    uid: string,
    name: string,
    namespace: string,
    policy: string,
    signal: AbortSignal,
  ) => {
    const out = join(options.dir, namespace, name);
    mkdirSync(out, { recursive: true, mode: 0o700 });
    started.set(uid, out);
    const kind = count++ % 2 === 0 ? 'snp' : 'tdx';
    const policyHash = createHash('sha256').update(Buffer.from(policy, 'base64')).digest('hex');
    const gpus = Number(spec.containers.find((c) => c.name === 'server')?.resources?.limits?.['nvidia.com/gpu'] ?? 0);
    const serviceAccount = spec.serviceAccountName ?? 'default';
    const token = () => requestPodToken(core, { namespace, name, uid, serviceAccount }, WORKLOAD_AUDIENCE);
    const client = new CoordinatorClient(options.coordinatorUrl, options.coordinatorCaPem, token);
    const init = new WorkloadInit({
      pod: { namespace, name },
      client,
      cvm: new SimulatedCvmSource(options.platform, {
        platform: kind,
        measurement: kind === 'snp' ? SIMULATED_POD_MEASUREMENT : SIMULATED_POD_MRTD,
        policyHash,
      }),
      ...(gpus > 0
        ? {
            gpus: new SimulatedGpuControl(options.platform, {
              uuids: Array.from({ length: gpus }, (_, g) => `GPU-${uid.slice(0, 8)}-${g}`),
            }),
          }
        : {}),
      out,
      log: options.log,
    });
    options.print(
      `attestor init in pod ${namespace}/${name} (simulated ${kind === 'snp' ? 'SEV-SNP' : 'TDX'} pod VM, ${kind === 'snp' ? 'HOST_DATA' : 'MRCONFIGID'} = its policy hash ${policyHash.slice(0, 16)}…, ${gpus} simulated GPU(s)): key generated, asking the Coordinator for a nonce`,
    );
    try {
      const outcome = await init.certifyOnce(signal, 120_000);
      options.print(
        outcome.certified
          ? `attestor init in pod ${namespace}/${name}: evidence accepted, GPUs activated, workload certificate written to ${out} (mesh-ca.pem, cert.pem, key.pem 0400), valid until ${outcome.notAfter.toISOString()}`
          : `attestor init in pod ${namespace}/${name}: refused, no certificate: ${outcome.reasons.join('; ')}`,
      );
      if (outcome.certified) options.onCertified?.(pod, out);
      await init.renew(signal, options.checkIntervalMs);
    } catch (err) {
      if (!signal.aborted) options.print(`attestor init in pod ${namespace}/${name} failed: ${errorMessage(err)}`);
    } finally {
      await client.close();
    }
  };

  const onPod = (pod: k8s.V1Pod) => {
    const uid = pod.metadata?.uid;
    if (uid && pod.metadata?.deletionTimestamp) runs.get(uid)?.abort.abort();
    else start(pod);
  };
  options.pods.onAdd(onPod).onUpdate(onPod);
  options.pods.onDelete((pod) => {
    const uid = pod.metadata?.uid;
    if (uid) runs.get(uid)?.abort.abort();
  });
  for (const pod of options.pods.list()) start(pod);

  return {
    started,
    certify: (pod) => start(pod, true),
    stop: async () => {
      abort.abort();
      await Promise.all([...runs.values()].map((r) => r.done));
    },
  };
}

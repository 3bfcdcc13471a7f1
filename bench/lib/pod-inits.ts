/**
 * The scale bench's pods' `attestor init --confidential-node`, all in the bench process (kwok runs
 * no containers): for each AI worker pod once it is scheduled, what its init container does, with
 * what the kubelet would give it. Two tokens of the pod's service account bound to the pod
 * (audiences attestor-workload and attestor-node-agent), made by the driver before the init starts
 * (the kubelet's work, not the operator's); its node's agent's countersigning endpoint; a
 * per-pod directory under `dir` as its memory-backed volume. One round (WorkloadInit.certifyOnce),
 * no renewal sidecar: the bench's certificates outlive it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import { WorkloadInit } from '../../src/agent/workload-init.ts';
import { isWorkerPodOf } from '../../src/api/deployment-model.ts';
import { errorMessage } from '../../src/errors.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { NODE_AGENT_AUDIENCE } from '../../src/protocol/countersignature.ts';
import { WORKLOAD_AUDIENCE } from '../../src/protocol/workload.ts';

export interface PodInitsOptions {
  /** The driver's client (it makes the pods' tokens, as the kubelet does). */
  kubeConfig: k8s.KubeConfig;
  coordinatorUrl: string;
  coordinatorCaPem: string;
  /** The countersigning endpoint of the agent of a node (http://127.0.0.1:<port>), if it runs one. */
  agentUrl: (node: string) => string | undefined;
  /** Where each pod's volume goes (<dir>/<namespace>/<pod>). */
  dir: string;
  /** Told when a pod's init could not get its certificate (refused, or failed past its deadline). */
  onFailure: (pod: string, reason: string) => void;
}

export class PodInits {
  readonly #options: PodInitsOptions;
  readonly #core: k8s.CoreV1Api;
  readonly #abort = new AbortController();
  readonly #started = new Set<string>();
  readonly #runs: Promise<void>[] = [];
  #certified = 0;

  constructor(options: PodInitsOptions) {
    this.#options = options;
    this.#core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
  }

  /** Pods whose init wrote its certificate. */
  get certified(): number {
    return this.#certified;
  }

  get started(): number {
    return this.#started.size;
  }

  /** Starts the init of a confidential-node AI worker pod once it is scheduled (once per pod). */
  offer(pod: k8s.V1Pod): void {
    const { uid, name, namespace, deletionTimestamp, labels } = pod.metadata ?? {};
    const node = pod.spec?.nodeName;
    if (!uid || !name || !namespace || !node || deletionTimestamp || this.#abort.signal.aborted) return;
    if (this.#started.has(uid) || !isWorkerPodOf(labels, 'confidential-node')) return;
    const agentUrl = this.#options.agentUrl(node);
    if (!agentUrl) return;
    this.#started.add(uid);
    const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
    this.#runs.push(
      (async () => {
        let client: CoordinatorClient | undefined;
        try {
          const token = async (audience: string) => {
            const request = await this.#core.createNamespacedServiceAccountToken({
              name: serviceAccount,
              namespace,
              body: {
                spec: {
                  audiences: [audience],
                  expirationSeconds: 3600,
                  boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid },
                },
              },
            });
            const issued = request.status?.token;
            if (!issued) throw new Error(`TokenRequest for pod ${namespace}/${name} returned no token`);
            return issued;
          };
          const [workloadToken, agentToken] = await Promise.all([token(WORKLOAD_AUDIENCE), token(NODE_AGENT_AUDIENCE)]);
          const out = join(this.#options.dir, namespace, name);
          mkdirSync(out, { recursive: true, mode: 0o700 });
          client = new CoordinatorClient(
            this.#options.coordinatorUrl,
            this.#options.coordinatorCaPem,
            async () => workloadToken,
          );
          const outcome = await new WorkloadInit({
            pod: { namespace, name },
            client,
            node: { url: agentUrl, token: async () => agentToken },
            out,
            log: silentLogger,
          }).certifyOnce(this.#abort.signal, 600_000);
          if (outcome.certified) this.#certified++;
          else this.#options.onFailure(`${namespace}/${name}`, outcome.reasons.join('; '));
        } catch (err) {
          if (!this.#abort.signal.aborted) this.#options.onFailure(`${namespace}/${name}`, errorMessage(err));
        } finally {
          await client?.close();
        }
      })(),
    );
  }

  /** Resolves when every init started so far has ended (certified, refused or failed). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#runs);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#runs);
  }
}

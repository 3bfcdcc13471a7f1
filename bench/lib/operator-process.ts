/**
 * The scale bench's operator in its own process (forked by operator-child.ts), so that its RSS
 * and CPU are its own. It holds no simulator key: from the driver it gets, over IPC, what a
 * production operator is configured with. The simulated platform's public roots (the trust a
 * Manifest with `development.acceptSimulatedEvidence` lets it use), its fixed collateral (TDX
 * collateral, the RIMs), and a collateral cache directory holding an OCSP answer for every
 * certificate the simulated GPUs' chains and RIMs will be asked about, signed by the driver before
 * the clock starts; it reads them from there with fetching off, as an air-gapped cluster reads
 * what `attestor collateral fetch` stored (src/cli/operator.ts --collateral-cache). Its own pod
 * VM's evidence (the simulated hardware) comes from the driver on request.
 */
import { getHeapStatistics } from 'node:v8';
import * as k8s from '@kubernetes/client-node';
import type { NodeCollateral, NodeEvidence, NodeTrust } from '../../src/attestation/node-appraisal.ts';
import type { GpuTrustAnchors } from '../../src/attestation/nvidia/verify.ts';
import { type SnpRootSet, SnpRoots } from '../../src/attestation/snp/roots.ts';
import { trustAnchors } from '../../src/attestation/tdx/chain.ts';
import { collateralSource } from '../../src/collateral/source.ts';
import { CollateralStore } from '../../src/collateral/store.ts';
import type { OwnEvidenceSource } from '../../src/coordinator/coordinator-evidence.ts';
import { errorMessage } from '../../src/errors.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { type RunningOperator, startOperator } from '../../src/operator/operator.ts';

/** What the driver sends: plain data (structured clone). */
export interface OperatorProcessConfig {
  cluster: k8s.Cluster;
  user: { name: string; token: string };
  namespace: string;
  serving: { cert: string; key: string };
  agentUsernames: string[];
  trust: { snp: SnpRootSet[]; tdx: Uint8Array[]; gpu: GpuTrustAnchors };
  collateral: NodeCollateral;
  /** The collateral cache directory (OCSP answers), read with fetching off. */
  collateralCache: string;
  ownEvidenceKind: string;
  workload: { initImage: string; coordinatorUrl: string; coordinatorCaPem: string };
  webhookTls: { certFile: string; keyFile: string };
}

export type ToOperator =
  | { type: 'start'; config: OperatorProcessConfig }
  | { type: 'evidence'; id: number; evidence?: NodeEvidence['cvm']; error?: string }
  | { type: 'usage' }
  | { type: 'stop' };

export type FromOperator =
  | { type: 'started'; webhookPort: number; coordinatorPort: number }
  | { type: 'collect'; id: number; reportData: Uint8Array }
  | {
      type: 'usage';
      cpuMicros: number;
      rss: number;
      heapUsed: number;
      heapLimit: number;
      /** Memory of Buffers and other objects outside the V8 heap (process.memoryUsage().external). */
      external: number;
      liveHeap?: number;
    }
  | { type: 'stopped' }
  | { type: 'failed'; error: string };

const send = (message: FromOperator) => process.send?.(message);

if (process.send) {
  let operator: RunningOperator | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (e: NodeEvidence['cvm']) => void; reject: (err: Error) => void }>();

  const start = async (config: OperatorProcessConfig) => {
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [config.cluster],
      users: [config.user],
      contexts: [{ name: 'operator', cluster: config.cluster.name, user: config.user.name }],
      currentContext: 'operator',
    });
    const trust: NodeTrust = {
      snp: new SnpRoots(config.trust.snp),
      tdx: trustAnchors(config.trust.tdx),
      gpu: config.trust.gpu,
    };
    const ownEvidence: OwnEvidenceSource = {
      kind: config.ownEvidenceKind,
      collect: (reportData) =>
        new Promise((resolve, reject) => {
          const id = nextId++;
          pending.set(id, { resolve, reject });
          send({ type: 'collect', id, reportData });
        }),
    };
    operator = startOperator({
      kubeConfig,
      log: silentLogger,
      namespace: config.namespace,
      leaderElect: false,
      coordinator: {
        host: '127.0.0.1',
        port: 0,
        tls: config.serving,
        agentUsernames: config.agentUsernames,
        trust: {
          production: {},
          simulated: trust,
          simulatedCollateral: collateralSource({
            base: config.collateral,
            store: new CollateralStore({ dir: config.collateralCache, network: false }),
            ...(config.trust.gpu ? { gpuAnchors: config.trust.gpu } : {}),
          }),
        },
        ownEvidence,
      },
      workload: config.workload,
      webhook: { host: '127.0.0.1', port: 0, tls: config.webhookTls, clientAuth: 'none' },
    });
    const [webhookPort, coordinatorPort] = await Promise.all([operator.webhookPort, operator.coordinatorPort]);
    if (webhookPort === undefined || coordinatorPort === undefined)
      throw new Error('the operator serves no webhook or no Coordinator');
    send({ type: 'started', webhookPort, coordinatorPort });
  };

  process.on('message', (message: ToOperator) => {
    switch (message.type) {
      case 'start':
        start(message.config).catch((err) => send({ type: 'failed', error: errorMessage(err) }));
        break;
      case 'evidence': {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.evidence) waiter?.resolve(message.evidence);
        else waiter?.reject(new Error(message.error ?? 'no evidence'));
        break;
      }
      case 'usage': {
        const cpu = process.cpuUsage();
        const heapUsed = process.memoryUsage().heapUsed;
        // With --expose-gc (SCALE_OPERATOR_NODE_OPTIONS): what is still reachable after a full collection.
        const gc = (globalThis as { gc?: () => void }).gc;
        gc?.();
        send({
          type: 'usage',
          cpuMicros: cpu.user + cpu.system,
          rss: process.memoryUsage().rss,
          heapUsed,
          heapLimit: getHeapStatistics().heap_size_limit,
          external: process.memoryUsage().external,
          ...(gc ? { liveHeap: process.memoryUsage().heapUsed } : {}),
        });
        break;
      }
      case 'stop':
        (operator?.stop() ?? Promise.resolve()).finally(() => {
          send({ type: 'stopped' });
          process.disconnect();
        });
        break;
    }
  });
  // The driver gone (stopped us, or died): nothing is left to serve.
  process.on('disconnect', () => process.exit(0));
}

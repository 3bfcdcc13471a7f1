// One operator replica with the Coordinator and peer recovery, as its own process (forked by
// test/cluster/peer-recovery.test.ts), so that a test can SIGKILL it. The only fake is the
// hardware: the replica's CVM reports come from the parent over the IPC channel, where the
// simulated platform (its keys) lives, so that every replica's evidence is signed by the same
// simulated roots, as the pod VMs of one cluster share AMD's. Everything else is the operator as
// `attestor operator` runs it: leader election, TokenReview of the peer token, HTTPS between the
// replicas. It logs to stdout (debug), and answers the parent's `keys` message with the encodings
// of its CA keys (CertificateAuthority.privateKeyForTests), so that the test can search every
// object and log line for them. With `collateralFromParent` (and a fork with advanced
// serialization) the collateral for nodes' evidence comes from the parent too: the simulated
// vendor services (RIMs, OCSP answers signed at the appraisal's time) live with the platform's keys.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as k8s from '@kubernetes/client-node';
import type { NodeEvidence } from '../../src/attestation/node-appraisal.ts';
import { readSimulatedRoots } from '../../src/client/simulated-roots.ts';
import type { PreparedCollateral } from '../../src/collateral/prepare.ts';
import { type CollateralSource, collateralSource } from '../../src/collateral/source.ts';
import type { OwnEvidenceSource } from '../../src/coordinator/coordinator-evidence.ts';
import { createLogger } from '../../src/observability/log.ts';
import { startOperator } from '../../src/operator/operator.ts';
import { CertificateAuthority } from '../../src/pki/certificate-authority.ts';
import { decodeCvmEvidence } from '../../src/protocol/evidence-request.ts';
import type { EncodedCvmEvidence } from '../../src/protocol/messages.ts';
import { secretEncodings } from './plaintext-search.ts';

export interface ReplicaConfig {
  kubeconfig: string;
  namespace: string;
  identity: string;
  leaseDurationMs: number;
  retryPeriodMs: number;
  probePort: number;
  coordinatorPort: number;
  certificatePem: string;
  keyPem: string;
  /** The simulated roots file (public certificates only). */
  rootsFile: string;
  peers: string[];
  caFile: string;
  tokenFile: string;
  operatorUsername: string;
  syncIntervalMs: number;
  /** Ask the parent for nodes' collateral (`collateral` messages; the fork must use advanced serialization). */
  collateralFromParent?: boolean;
}

/** Parent to child. */
export type ToReplica =
  | { type: 'evidence'; id: number; evidence?: EncodedCvmEvidence; error?: string }
  | { type: 'keys' }
  | { type: 'collateral'; id: number; collateral?: PreparedCollateral; error?: string };
/** Child to parent. */
export type FromReplica =
  /** `forPeerRecovery`: asked by peer recovery's replica side (peer-sync.ts), not for the replica's own identity. */
  | { type: 'collect'; id: number; reportData: string; forPeerRecovery: boolean }
  | { type: 'keys'; secrets: string[] }
  | { type: 'collateral'; id: number; evidence: NodeEvidence; at: Date };

/** Collateral for nodes' evidence from the parent, which holds the simulated vendor services. */
class ParentCollateral {
  #next = 0;
  readonly #pending = new Map<number, { resolve: (c: PreparedCollateral) => void; reject: (e: Error) => void }>();

  answer(m: Extract<ToReplica, { type: 'collateral' }>): void {
    const p = this.#pending.get(m.id);
    this.#pending.delete(m.id);
    if (!p) return;
    if (m.collateral) p.resolve(m.collateral);
    else p.reject(new Error(m.error ?? 'no collateral'));
  }

  readonly source: CollateralSource = (evidence, at) => {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      send({ type: 'collateral', id, evidence, at });
    });
  };
}

/** CVM reports from the parent, which holds the simulated platform. */
class ParentEvidence implements OwnEvidenceSource {
  readonly kind = 'simulated-snp (from the test)';
  #next = 0;
  readonly #pending = new Map<number, { resolve: (e: NodeEvidence['cvm']) => void; reject: (e: Error) => void }>();

  answer(m: Extract<ToReplica, { type: 'evidence' }>): void {
    const p = this.#pending.get(m.id);
    this.#pending.delete(m.id);
    if (!p) return;
    const decoded = m.evidence ? decodeCvmEvidence(m.evidence) : { error: m.error ?? 'no evidence' };
    if ('error' in decoded) p.reject(new Error(decoded.error));
    else p.resolve(decoded);
  }

  collect(reportData: Uint8Array): Promise<NodeEvidence['cvm']> {
    const id = this.#next++;
    // Which code asks, so that a test can hold peer recovery between the leader's nonce and the
    // replica's evidence (the caller is the synchronous frame below this one).
    const forPeerRecovery = new Error().stack?.includes('peer-sync.ts') ?? false;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      send({ type: 'collect', id, reportData: Buffer.from(reportData).toString('hex'), forPeerRecovery });
    });
  }
}

function send(m: FromReplica): void {
  process.send!(m);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.ATTESTOR_REPLICA_CONFIG!) as ReplicaConfig;
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(config.kubeconfig);
  const roots = readSimulatedRoots(readFileSync(config.rootsFile, 'utf8'));
  const evidence = new ParentEvidence();
  const parentCollateral = new ParentCollateral();
  const operator = startOperator({
    kubeConfig,
    log: createLogger({ level: 'debug' }),
    namespace: config.namespace,
    leaderElect: true,
    identity: config.identity,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: Math.floor(config.leaseDurationMs * 0.75),
    retryPeriodMs: config.retryPeriodMs,
    probe: { host: '127.0.0.1', port: config.probePort },
    coordinator: {
      host: '127.0.0.1',
      port: config.coordinatorPort,
      tls: { cert: config.certificatePem, key: config.keyPem },
      agentUsernames: [`system:serviceaccount:${config.namespace}:attestor-agent`],
      trust: {
        production: {},
        simulated: roots.trust,
        simulatedCollateral: config.collateralFromParent
          ? parentCollateral.source
          : collateralSource({ base: roots.collateral }),
      },
      ownEvidence: evidence,
      peers: {
        urls: config.peers,
        ca: readFileSync(config.caFile, 'utf8'),
        token: async () => (await readFile(config.tokenFile, 'utf8')).trim(),
        usernames: [config.operatorUsername],
        syncIntervalMs: config.syncIntervalMs,
        // The test's tokens are bound to no pod, so every replica shares one bucket; and it syncs often.
        rate: { burst: 100, intervalMs: 10 },
      },
    },
  });
  process.on('message', (m: ToReplica) => {
    if (m.type === 'evidence') evidence.answer(m);
    else if (m.type === 'collateral') parentCollateral.answer(m);
    else if (m.type === 'keys') {
      const identity = operator.identity();
      const keys = [identity?.rootCa, identity?.meshCa].filter((ca) => ca !== undefined);
      send({
        type: 'keys',
        secrets: keys.flatMap((ca) => secretEncodings(CertificateAuthority.privateKeyForTests(ca))),
      });
    }
  });
  process.on('SIGTERM', () => void operator.stop().then(() => process.exit(0)));
  await operator.done;
  process.exit(0);
}

void main();

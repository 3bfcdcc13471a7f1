/**
 * GPU node appraisal at fleet scale, without the control plane (node bench/node-appraisal.bench.ts):
 * the Coordinator's NodeAppraiser (simulated roots, the simulated platform's collateral source
 * with its OCSP responder, the refusal and collateral metrics) on pre-made evidence of NODES
 * nodes, each with 8 GPUs whose device certificates and leaves are their own.
 *
 * - first attestation: every node once, in turn, by one appraiser (as a fleet joins): the
 *   intermediates are shared, each GPU's own certificates and OCSP answer are new;
 * - re-appraisal: the same nodes again (a Manifest change): every byte has been seen before;
 * - one node seen: one node's evidence appraised again and again (the warmest case).
 * Each row is milliseconds of this process's time per node appraisal (every check runs every
 * time; only work that is a pure function of the same bytes may be skipped).
 *
 * Env: NODE_APPRAISAL_NODES (default 40), NODE_APPRAISAL_REPEATS (default 20, the warm row).
 */
import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import { createSimulatedPlatform, SIMULATED_SNP_MEASUREMENT } from '../src/agent/evidence/simulated.ts';
import type { Manifest } from '../src/api/manifest.ts';
import type { NodeEvidence } from '../src/attestation/node-appraisal.ts';
import { encodeSnpCertTable } from '../src/attestation/snp/cert-table.ts';
import { NodeAppraiser } from '../src/coordinator/appraisal.ts';
import { AppraisalMetrics } from '../src/coordinator/appraisal-metrics.ts';
import { simulatedCollateral } from '../src/dev/local-coordinator.ts';
import { silentLogger } from '../src/observability/log.ts';
import { reportDataFor } from '../src/protocol/evidence-request.ts';

const NODES = Number(process.env.NODE_APPRAISAL_NODES ?? 40);
const REPEATS = Number(process.env.NODE_APPRAISAL_REPEATS ?? 20);
const GPUS = 8;
const POLICY_HASH = createHash('sha256').update('bench').digest('hex');

const platform = await createSimulatedPlatform();
const manifest: Manifest = {
  apiVersion: 'attestor.dev/v1alpha1',
  kind: 'Manifest',
  metadata: { name: 'bench' },
  spec: {
    referenceValues: {
      snp: [{ measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [{ name: 'p', hash: POLICY_HASH }],
    runtimeClasses: ['kata'],
    attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence: true },
  },
} as Manifest;

const nonce = new Uint8Array(32).fill(7);
const reportData = reportDataFor(nonce, new Uint8Array(91).fill(3));
const expectation = { reportData, nonce, gpuCount: GPUS };
const nodes: NodeEvidence[] = [];
const made = performance.now();
for (let n = 0; n < NODES; n++) {
  const report = platform.snp.report({
    measurement: Buffer.from(SIMULATED_SNP_MEASUREMENT, 'hex'),
    hostData: Buffer.from(POLICY_HASH, 'hex'),
    reportData,
  });
  const gpus = [];
  for (let i = 0; i < GPUS; i++) {
    const uuid = `GPU-${n}-${i}`;
    const g = await platform.gpu.gpu(uuid, { nonce, driverVersion: '550.90.07', vbiosVersion: '96.00.9F.00.01' });
    gpus.push({ uuid, report: g.report, certificateChain: g.certificateChainPem });
  }
  nodes.push({
    cvm: {
      platform: 'snp',
      report,
      auxblob: encodeSnpCertTable([{ kind: 'vcek', der: platform.snp.endorsementDer }]),
    },
    gpus,
  });
}
console.error(`evidence for ${NODES} nodes made in ${((performance.now() - made) / 1000).toFixed(1)} s`);

const metrics = new AppraisalMetrics(new Registry());
const appraiser = new NodeAppraiser(
  { production: {}, simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) },
  silentLogger,
  (c) => metrics.collateralUsed(c),
);
const at = new Date();

/** Appraises each node of `list`; returns CPU ms (user + system) per appraisal. */
async function pass(list: readonly NodeEvidence[]): Promise<number> {
  const cpu = process.cpuUsage();
  for (const evidence of list) {
    const { verdict } = await appraiser.appraise(evidence, expectation, manifest, at);
    if (!verdict.verified) throw new Error(`bench evidence refused: ${JSON.stringify(verdict.reasons)}`);
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000 / list.length;
}

const first = await pass(nodes);
const again = await pass(nodes);
const warm = await pass(Array.from({ length: REPEATS }, () => nodes[0]!));
console.log(`# GPU node appraisal, ${NODES} nodes x ${GPUS} GPUs (Node ${process.version}), CPU ms per node appraisal`);
console.log('| what | ms per node | ratio to first attestation |');
console.log('|---|---:|---:|');
for (const [name, ms] of [
  ['first attestation (each node once)', first],
  ['re-appraisal (the same nodes again)', again],
  ['one node seen (the same evidence again)', warm],
] as const)
  console.log(`| ${name} | ${ms.toFixed(1)} | ${(ms / first).toFixed(3)} |`);

// A node appraised again (a Manifest change, a retry) does no work that is a pure function of
// bytes it brought before: no certificate link verified, no OCSP answer read or its signature
// checked, no device chain parsed again. Every check still runs: the same node with one GPU
// report changed is refused after its genuine evidence was memoised.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import {
  createSimulatedPlatform,
  SIMULATED_SNP_MEASUREMENT,
  type SimulatedPlatform,
} from '../../../src/agent/evidence/simulated.ts';
import type { Manifest } from '../../../src/api/manifest.ts';
import { issuedByMemo } from '../../../src/attestation/issued-by-memo.ts';
import type { NodeEvidence } from '../../../src/attestation/node-appraisal.ts';
import { deviceChainMemo } from '../../../src/attestation/nvidia/certificates.ts';
import { answerMemo, signerMemo } from '../../../src/attestation/nvidia/ocsp-answer.ts';
import { encodeSnpCertTable } from '../../../src/attestation/snp/cert-table.ts';
import { NodeAppraiser } from '../../../src/coordinator/appraisal.ts';
import { AppraisalMetrics } from '../../../src/coordinator/appraisal-metrics.ts';
import { simulatedCollateral } from '../../../src/dev/local-coordinator.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { reportDataFor } from '../../../src/protocol/evidence-request.ts';

const POLICY_HASH = createHash('sha256').update('memos').digest('hex');
const GPUS = 8;

describe('appraisal memos (a node appraised again)', function () {
  this.timeout(120_000);
  let platform: SimulatedPlatform;
  let evidence: NodeEvidence;
  const nonce = new Uint8Array(32).fill(5);
  const reportData = reportDataFor(nonce, new Uint8Array(91).fill(2));
  const expectation = { reportData, nonce, gpuCount: GPUS };
  const manifest = {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'memos' },
    spec: {
      referenceValues: {
        snp: [
          { measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } },
        ],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [{ name: 'p', hash: POLICY_HASH }],
      runtimeClasses: ['kata'],
      attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
      development: { acceptSimulatedEvidence: true },
    },
  } as Manifest;

  before(async () => {
    platform = await createSimulatedPlatform();
    const gpus = [];
    for (let i = 0; i < GPUS; i++) {
      const uuid = `GPU-memos-${i}`;
      const g = await platform.gpu.gpu(uuid, { nonce, driverVersion: '550.90.07', vbiosVersion: '96.00.9F.00.01' });
      gpus.push({ uuid, report: g.report, certificateChain: g.certificateChainPem });
    }
    evidence = {
      cvm: {
        platform: 'snp',
        report: platform.snp.report({
          measurement: Buffer.from(SIMULATED_SNP_MEASUREMENT, 'hex'),
          hostData: Buffer.from(POLICY_HASH, 'hex'),
          reportData,
        }),
        auxblob: encodeSnpCertTable([{ kind: 'vcek', der: platform.snp.endorsementDer }]),
      },
      gpus,
    };
  });

  // Links that verified: the memo's size (refused links, such as the simulated chains' under the
  // pinned vendor roots, which are tried first, are never remembered and so are checked each time).
  const counts = () => ({
    links: issuedByMemo.size,
    answers: answerMemo.misses,
    signers: signerMemo.misses,
    chains: deviceChainMemo.misses,
  });

  it('verifies, reads and parses nothing again for the same evidence, and reaches the same verdict', async () => {
    const metrics = new AppraisalMetrics(new Registry());
    const appraiser = new NodeAppraiser(
      { production: {}, simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) },
      silentLogger,
      (c) => metrics.collateralUsed(c),
    );
    const at = new Date();
    const first = await appraiser.appraise(evidence, expectation, manifest, at);
    assert.deepEqual(first.verdict.reasons, []);
    assert.equal(first.verdict.verified, true);
    const before = counts();
    const hits = { links: issuedByMemo.hits, answers: answerMemo.hits, chains: deviceChainMemo.hits };
    // A second appraiser (a new leader, the other Coordinator's caches) shares the process memos too.
    const again = new NodeAppraiser(
      { production: {}, simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) },
      silentLogger,
      (c) => metrics.collateralUsed(c),
    );
    const second = await again.appraise(evidence, expectation, manifest, at);
    assert.deepEqual(second.verdict.reasons, []);
    assert.deepEqual(second.verdict.claims.gpus, first.verdict.claims.gpus);
    assert.deepEqual(counts(), before, 'no link verified, no answer read or its signer checked, no chain parsed again');
    assert.ok(issuedByMemo.hits > hits.links);
    assert.ok(answerMemo.hits > hits.answers);
    assert.ok(deviceChainMemo.hits > hits.chains);
  });

  it('refuses the same node with one GPU report changed after its genuine evidence was memoised', async () => {
    const appraiser = new NodeAppraiser(
      { production: {}, simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) },
      silentLogger,
    );
    const at = new Date();
    assert.equal((await appraiser.appraise(evidence, expectation, manifest, at)).verdict.verified, true);
    const report = new Uint8Array(evidence.gpus[3]!.report);
    report[report.length - 1]! ^= 0x01; // the last byte of the report's signature
    const changed = { ...evidence, gpus: evidence.gpus.map((g, i) => (i === 3 ? { ...g, report } : g)) };
    const v = (await appraiser.appraise(changed, expectation, manifest, at)).verdict;
    assert.equal(v.verified, false);
    assert.ok(v.reasons.some((r) => r.check === 'gpu.signature'));
  });
});

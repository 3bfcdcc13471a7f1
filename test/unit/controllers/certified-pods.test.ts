// Which pods count as attested replicas of a pod-CVM AIWorker (certified.ts): a certificate on the
// pod counts only when the current mesh CA issued it, it is valid now, and it names the pod's UID.
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { WORKLOAD_CERTIFICATE_ANNOTATION } from '../../../src/api/aiworker-labels.ts';
import { certifiedPods } from '../../../src/controllers/aiworker/certified.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { CoordinatorPki } from '../../../src/pki/coordinator-pki.ts';
import { workloadLeafRequest } from '../../../src/pki/workload-certificate.ts';

const NOW = new Date('2026-06-01T00:00:00Z');

async function certificateFor(ca: CertificateAuthority, podUid: string, lifetimeMs = 3_600_000): Promise<string> {
  const { publicKey } = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await ca.issue(
    workloadLeafRequest({
      publicKey,
      aiWorker: 'llama',
      namespace: 'ai',
      identity: {
        role: 'worker',
        deploymentModel: 'pod-cvm',
        policyHash: 'a1'.repeat(32),
        evidenceDigest: 'b2'.repeat(32),
        manifestHash: 'c3'.repeat(32),
        podUid,
      },
      lifetimeMs,
      now: NOW,
    }),
  );
  return certificate.toString('pem');
}

const pod = (uid: string, pem?: string): k8s.V1Pod => ({
  metadata: {
    name: uid,
    namespace: 'ai',
    uid,
    ...(pem ? { annotations: { [WORKLOAD_CERTIFICATE_ANNOTATION]: pem } } : {}),
  },
});

describe('attested replicas of a pod-CVM AIWorker', () => {
  it("counts a pod with a current certificate from the current mesh CA naming its UID, and none that is forged, another pod's, expired, or from an earlier mesh CA", async () => {
    const pki = await CoordinatorPki.create(NOW);
    const mesh = await pki.newMeshCa(NOW);
    const earlier = await pki.newMeshCa(NOW);
    const forger = await (await CoordinatorPki.create(NOW)).newMeshCa(NOW);
    const pods = [
      pod('good', await certificateFor(mesh, 'good')),
      pod('copied', await certificateFor(mesh, 'good')),
      pod('expired', await certificateFor(mesh, 'expired', 1000)),
      pod('old-manifest', await certificateFor(earlier, 'old-manifest')),
      pod('forged', await certificateFor(forger, 'forged')),
      pod('garbage', 'not a certificate'),
      pod('none'),
    ];
    const at = new Date(NOW.getTime() + 60_000);
    const result = await certifiedPods(pods, mesh.certificate, at);
    assert.deepEqual([...result.uids], ['good']);
    assert.equal(result.firstExpiry, NOW.getTime() + 3_600_000, 'to look again when it expires');
    assert.deepEqual([...(await certifiedPods(pods, undefined, at)).uids], [], 'no mesh CA: nothing counts');
  });
});

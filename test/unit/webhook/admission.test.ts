// The admission handlers' outcomes without a cluster: allowed, denied by the rules, or "error"
// (not judged, answered with a refusal). The outcome is what attestor_webhook_requests_total counts.
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/observability/log.ts';
import {
  type AdmissionDeps,
  type AdmissionHandler,
  type AdmissionOutcome,
  createAdmissionHandlers,
  type Judgement,
  type WebhookName,
} from '../../../src/webhook/admission.ts';
import type { AdmissionRequest } from '../../../src/webhook/review.ts';
import { binding, manifest, NOW, nodeAttestation, pod } from './fixtures.ts';

function deps(change: Partial<AdmissionDeps> = {}): AdmissionDeps {
  return {
    manifests: { synced: true, list: () => [manifest()] },
    nodeAttestations: { synced: true, get: (name) => (name === 'gpu-1' ? nodeAttestation() : undefined) },
    pods: { readNamespacedPod: async () => pod() },
    now: () => NOW,
    log: silentLogger,
    ...change,
  };
}

function request(resource: string, object: unknown, subResource?: string): AdmissionRequest {
  return {
    uid: 'a8b1f0e2-0000-4000-8000-000000000001',
    kind: { group: '', version: 'v1', kind: resource === 'pods' && !subResource ? 'Pod' : 'Binding' },
    resource: { group: '', version: 'v1', resource },
    ...(subResource ? { subResource } : {}),
    namespace: 'inference',
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object,
  };
}

describe('admission handlers: outcomes', () => {
  const cases: Array<{
    name: string;
    deps?: Partial<AdmissionDeps>;
    run: (handlers: Record<WebhookName, AdmissionHandler>) => Promise<Judgement>;
    outcome: AdmissionOutcome;
    code?: number;
    message?: RegExp;
  }> = [
    { name: 'a pod the Manifest allows', run: (h) => h['validate-pods'](request('pods', pod())), outcome: 'allowed' },
    {
      name: 'a pod with an image not pinned by digest',
      run: (h) => {
        const p = pod();
        p.spec!.containers[0]!.image = 'registry.example/vllm:latest';
        return h['validate-pods'](request('pods', p));
      },
      outcome: 'denied',
      code: 403,
      message: /spec\.containers\[0\]\.image/,
    },
    {
      name: 'a binding to a node whose attestation is current',
      run: (h) => h['validate-bindings'](request('pods', binding('gpu-1'), 'binding')),
      outcome: 'allowed',
    },
    {
      name: 'a binding to a node without a NodeAttestation',
      run: (h) => h['validate-bindings'](request('pods', binding('gpu-2'), 'binding')),
      outcome: 'denied',
    },
    {
      name: 'a pod while the Manifest cache has not synced',
      deps: { manifests: { synced: false, list: () => [] } },
      run: (h) => h['validate-pods'](request('pods', pod())),
      outcome: 'error',
      code: 503,
      message: /not ready/,
    },
    {
      name: 'a review for a resource the webhook does not judge',
      run: (h) => h['validate-pods'](request('nodes', { metadata: { name: 'gpu-1' } })),
      outcome: 'error',
      code: 400,
      message: /judges pods/,
    },
    {
      name: 'a binding whose pod cannot be read (the API server says why)',
      deps: {
        pods: {
          readNamespacedPod: async () => {
            throw Object.assign(new Error('etcdserver: request timed out'), { code: 500 });
          },
        },
      },
      run: (h) => h['validate-bindings'](request('pods', binding('gpu-1'), 'binding')),
      outcome: 'error',
      code: 500,
      message: /internal error: etcdserver: request timed out/,
    },
  ];
  for (const c of cases) {
    it(`${c.outcome}: ${c.name}`, async () => {
      const judgement = await c.run(createAdmissionHandlers(deps(c.deps)));
      assert.equal(judgement.outcome, c.outcome);
      assert.equal(judgement.response.allowed, c.outcome === 'allowed');
      if (c.code !== undefined) assert.equal(judgement.response.status?.code, c.code);
      if (c.message) assert.match(judgement.response.status?.message ?? '', c.message);
    });
  }
});

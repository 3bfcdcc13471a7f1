// What an AIWorker exposes: its Service's type and annotations come from spec.service (default a
// ClusterIP Service without annotations), and its NetworkPolicy admits ingress only on the port
// the Service serves: the worker proxy's TLS port, or the model server's where a pod has no proxy.
import assert from 'node:assert/strict';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { desiredNetworkPolicy } from '../../../src/controllers/aiworker/network-policy.ts';
import { desiredService, type WorkloadPodSettings } from '../../../src/controllers/aiworker/workload.ts';

const SETTINGS: WorkloadPodSettings = {
  initImage: `registry.example/attestor@sha256:${'ab'.repeat(32)}`,
  coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
  coordinatorCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

function worker(spec: Partial<AIWorker['spec']> = {}): AIWorker {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name: 'llama', namespace: 'ai', uid: 'w' },
    spec: { image: 'i', model: 'm', runtimeClassName: 'kata', policy: { inline: 'p' }, ...spec },
  };
}

const admitted = (w: AIWorker, settings?: WorkloadPodSettings) =>
  desiredNetworkPolicy(w, settings).spec!.ingress!.map((rule) => [rule._from, rule.ports]);

describe("an AIWorker's Service and NetworkPolicy", () => {
  it('makes a ClusterIP Service without annotations by default', () => {
    const service = desiredService(worker(), SETTINGS);
    assert.equal(service.spec!.type, 'ClusterIP');
    assert.equal(service.metadata!.annotations, undefined);
  });

  it("takes the Service's type and annotations from spec.service, and keeps serving only the proxy's TLS port", () => {
    for (const type of ['LoadBalancer', 'NodePort'] as const) {
      const service = desiredService(worker({ service: { type, annotations: { 'a.example/x': 'y' } } }), SETTINGS);
      assert.equal(service.spec!.type, type);
      assert.deepEqual(service.metadata!.annotations, { 'a.example/x': 'y' });
      assert.deepEqual(service.spec!.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    }
  });

  it("admits ingress from anywhere, only on the worker proxy's TLS port (9443 when the model server has 8443)", () => {
    assert.deepEqual(admitted(worker(), SETTINGS), [[undefined, [{ protocol: 'TCP', port: 8443 }]]]);
    assert.deepEqual(admitted(worker({ port: 8443 }), SETTINGS), [[undefined, [{ protocol: 'TCP', port: 9443 }]]]);
    const policy = desiredNetworkPolicy(worker(), SETTINGS);
    assert.deepEqual(policy.spec!.policyTypes, ['Ingress'], 'egress stays open: init and the proxy dial out');
    assert.deepEqual(policy.spec!.podSelector!.matchLabels, {
      'app.kubernetes.io/name': 'ai-worker',
      'app.kubernetes.io/instance': 'llama',
    });
    assert.deepEqual(
      policy.metadata!.ownerReferences!.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['AIWorker', 'llama', 'w', true]],
    );
  });

  it("admits the model server's port where the pods have no proxy (confidential-node without an init image), as its Service does", () => {
    const w = worker({ deploymentModel: 'confidential-node', port: 8000 });
    assert.deepEqual(admitted(w), [[undefined, [{ protocol: 'TCP', port: 8000 }]]]);
    assert.deepEqual(
      desiredService(w).spec!.ports!.map((p) => p.port),
      [8000],
    );
  });
});

// The worker proxy in every AI worker pod with `attestor init`: a native sidecar after attestor
// init (the operator's image, the certificate volume read-only, the model server on localhost),
// and the AIWorker's Service targets only its TLS port, never the model server's.
import assert from 'node:assert/strict';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import {
  desiredDeployment,
  desiredService,
  podSpec,
  WORKLOAD_CERTIFICATE_DIR,
  type WorkloadPodSettings,
} from '../../../src/controllers/aiworker/workload.ts';

const SETTINGS: WorkloadPodSettings = {
  initImage: `registry.example/attestor@sha256:${'ab'.repeat(32)}`,
  coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
  coordinatorCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  secretServiceUrl: 'https://secret-service.attestor-system.svc:8443',
};

function worker(spec: Partial<AIWorker['spec']> = {}): AIWorker {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name: 'llama', namespace: 'ai', uid: 'w' },
    spec: { image: 'i', model: 'm', runtimeClassName: 'kata', policy: { inline: 'p' }, port: 8000, ...spec },
  };
}

describe('the worker-proxy sidecar of AI worker pods', () => {
  it('adds attestor worker-proxy to a pod-CVM pod as a native sidecar right after attestor init and its renewer: the init image, the model server on localhost, the secret service, the TLS port, HTTPS probes on /healthz', () => {
    const spec = podSpec(worker(), SETTINGS);
    assert.deepEqual(
      spec.initContainers!.map((c) => c.name),
      ['attestor-init', 'attestor-renew', 'attestor-worker-proxy'],
      'attestor init writes the certificate before the sidecar starts',
    );
    const [init, , proxy] = spec.initContainers!;
    assert.equal(init!.restartPolicy, undefined, 'attestor init runs to completion');
    assert.equal(proxy!.restartPolicy, 'Always', 'a native sidecar: it runs for the pod’s life');
    assert.equal(proxy!.image, SETTINGS.initImage);
    assert.deepEqual(proxy!.args, [
      'worker-proxy',
      '--listen=0.0.0.0:8443',
      `--certificate-dir=${WORKLOAD_CERTIFICATE_DIR}`,
      '--upstream=http://127.0.0.1:8000',
      `--secret-service=${SETTINGS.secretServiceUrl}`,
    ]);
    assert.deepEqual(proxy!.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    for (const probe of [proxy!.readinessProbe, proxy!.livenessProbe])
      assert.deepEqual(probe?.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' });
    const certificate = spec.volumes!.find((v) => v.emptyDir?.medium === 'Memory')!;
    assert.deepEqual(proxy!.volumeMounts, [
      { name: certificate.name, mountPath: WORKLOAD_CERTIFICATE_DIR, readOnly: true },
    ]);
    assert.equal(proxy!.resources?.limits?.['nvidia.com/gpu'], undefined, 'the sidecar takes no GPU');
    assert.equal(proxy!.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(proxy!.securityContext?.capabilities?.drop, ['ALL']);
    assert.deepEqual(
      spec.containers.map((c) => c.name),
      ['server'],
      'the model server stays the only regular container',
    );
  });

  it('adds the same sidecar after attestor init --confidential-node, and none to a confidential-node pod without an init image', () => {
    const onNodes = worker({ deploymentModel: 'confidential-node' });
    const spec = podSpec(onNodes, SETTINGS);
    assert.ok(spec.initContainers![0]!.args!.includes('--confidential-node'));
    assert.deepEqual(spec.initContainers![2], podSpec(worker(), SETTINGS).initContainers![2]);
    const bare = podSpec(onNodes);
    assert.equal(bare.initContainers, undefined, 'no certificate, so no TLS to serve');
  });

  it('moves the sidecar to port 9443 when the model server listens on 8443, and names no secret service when the operator has none', () => {
    const { secretServiceUrl: _, ...withoutService } = SETTINGS;
    const proxy = podSpec(worker({ port: 8443 }), withoutService).initContainers![2]!;
    assert.deepEqual(proxy.args, [
      'worker-proxy',
      '--listen=0.0.0.0:9443',
      `--certificate-dir=${WORKLOAD_CERTIFICATE_DIR}`,
      '--upstream=http://127.0.0.1:8443',
    ]);
    assert.equal(proxy.ports![0]!.containerPort, 9443);
  });

  it("points the AIWorker's Service at the worker proxy's TLS port only: the model server's port is on no Service", () => {
    for (const [w, settings] of [
      [worker(), SETTINGS],
      [worker({ deploymentModel: 'confidential-node' }), SETTINGS],
      [worker({ port: 8443 }), SETTINGS],
      [worker(), undefined],
    ] as const) {
      const service = desiredService(w, settings);
      assert.deepEqual(service.spec!.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
      const pod = desiredDeployment(w, { document: '', hash: '' }, 1, settings).spec!.template.spec!;
      const target = pod.initContainers!.flatMap((c) => c.ports ?? []).find((p) => p.name === 'https');
      assert.ok(target, "the Service's target port is the sidecar's");
    }
  });

  it('keeps the model server on the Service of a confidential-node worker without an init image (no certificate, no proxy)', () => {
    const service = desiredService(worker({ deploymentModel: 'confidential-node' }));
    assert.deepEqual(service.spec!.ports, [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }]);
  });
});

// The Helm chart as users install it: helm lint passes, and everything `helm template` renders is
// accepted by the real API server (server-side dry run, CRDs installed).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { projectRoot, type ControlPlane } from '../../src/dev/control-plane.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';

describe('Helm chart charts/attestor', function () {
  let cp: ControlPlane;
  const namespace = uniqueName('chart');
  const chart = join(projectRoot, 'charts/attestor');
  before(async () => {
    cp = await sharedControlPlane();
    await cp.kubeConfig().makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  });
  const helm = (...args: string[]) => execFileSync(join(cp.binDir, 'helm'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('passes helm lint', () => {
    assert.match(helm('lint', chart, '--set', 'tls.caBundle=eA=='), /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('refuses to render without the CA bundle the webhooks need', () => {
    assert.throws(() => helm('template', 'attestor', chart, '--kube-version', '1.37.2'), /tls\.caBundle .* is required/);
  });

  it('renders objects the API server accepts (dry run), webhooks fail closed and skip the release namespace', () => {
    const rendered = helm('template', 'attestor', chart, '--namespace', namespace, '--kube-version', '1.37.2', '--set', `tls.caBundle=${Buffer.from(cp.caPem).toString('base64')}`);
    const kinds = [...rendered.matchAll(/^kind: (\w+)/gm)].map((m) => m[1]).sort();
    assert.deepEqual(kinds, ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Deployment', 'MutatingWebhookConfiguration', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount', 'ValidatingWebhookConfiguration']);
    assert.doesNotMatch(rendered, /failurePolicy: Ignore/);
    assert.match(rendered, new RegExp(`values:\\s*\\n\\s*- kube-system\\s*\\n\\s*- ${namespace}`));
    const out = execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'apply', '--dry-run=server', '-f', '-'], { input: rendered, encoding: 'utf8' });
    assert.equal((out.match(/\(server dry run\)/g) ?? []).length, 13, out);
  });

  it('renders webhook.gpuResourcePrefixes into the operator flag and the CEL alike, and webhook.excludedNamespaces into the GPU and binding webhooks', () => {
    const rendered = helm('template', 'attestor', chart, '--namespace', namespace, '--kube-version', '1.37.2', '--set', `tls.caBundle=${Buffer.from(cp.caPem).toString('base64')}`,
      '--set', 'webhook.gpuResourcePrefixes={amd.com/gpu,nvidia.com/gpu}', '--set', 'webhook.excludedNamespaces={gpu-operator}');
    assert.match(rendered, /- --gpu-resource-prefixes=amd\.com\/gpu,nvidia\.com\/gpu\n/);
    // The CEL of both GPU pod entries uses the same list, and nothing else is left over.
    assert.equal(rendered.split('["amd.com/gpu","nvidia.com/gpu"].exists(p, n.startsWith(p))').length - 1, 8);
    assert.doesNotMatch(rendered, /nvidia\.com\/mig-/);
    assert.equal((rendered.match(new RegExp(`- kube-system\\s*\\n\\s*- ${namespace}\\s*\\n\\s*- gpu-operator\\n`, 'g')) ?? []).length, 4, 'GPU pods (validate, mutate) and both binding entries');
    // The API server compiles the CEL it was given.
    const out = execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'apply', '--dry-run=server', '-f', '-'], { input: rendered, encoding: 'utf8' });
    assert.match(out, /mutatingwebhookconfiguration\.admissionregistration\.k8s\.io\/attestor created \(server dry run\)/);
  });
});

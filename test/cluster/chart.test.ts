// The Helm chart as users install it: helm lint passes, and everything `helm template` renders is
// accepted by the real API server (server-side dry run, CRDs installed): the webhooks, which
// answer only the API server's client certificate, and the node gating ValidatingAdmissionPolicy
// whose CEL the API server compiles.
import assert from 'node:assert/strict';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { CHART_DIR, chartFixture } from '../harness/chart.ts';

/** A registry that does not exist: nothing here pulls images. */
const IMAGE = 'registry.example/attestor';

describe('Helm chart charts/attestor', function () {
  const fixture = chartFixture('chart');
  const { namespace } = fixture;
  const chart = CHART_DIR;
  let cp: ControlPlane;
  before(() => {
    cp = fixture.cp;
  });
  // Every render names an image: the chart requires one (no public image exists).
  const helm = (...args: string[]) =>
    fixture.helm(...(['template', 'lint'].includes(args[0]!) ? [...args, '--set', `image.repository=${IMAGE}`] : args));

  const clientCa = () => Buffer.from(cp.webhookClientCaPem).toString('base64');
  const servingCa = () => Buffer.from(cp.caPem).toString('base64');

  it('passes helm lint', () => {
    assert.match(
      helm('lint', chart, '--set', `tls.caBundle=${servingCa()}`, '--set', `webhook.clientAuth.caBundle=${clientCa()}`),
      /1 chart\(s\) linted, 0 chart\(s\) failed/,
    );
  });

  it('refuses to render without the CA bundle the webhooks need', () => {
    assert.throws(
      () =>
        helm(
          'template',
          'attestor',
          chart,
          '--kube-version',
          '1.37.2',
          '--set',
          `webhook.clientAuth.caBundle=${clientCa()}`,
        ),
      /tls\.caBundle .* is required/,
    );
  });

  it("refuses to render until the webhook's client authentication is chosen: the CA of the API server's client certificate, or any client explicitly (issue 7 item 17)", () => {
    for (const choice of [
      [],
      ['--set', `webhook.clientAuth.caBundle=${clientCa()}`, '--set', 'webhook.clientAuth.allowAnyClient=true'],
    ]) {
      assert.throws(
        () =>
          helm(
            'template',
            'attestor',
            chart,
            '--kube-version',
            '1.37.2',
            '--set',
            `tls.caBundle=${servingCa()}`,
            ...choice,
          ),
        /set exactly one of webhook\.clientAuth\.caBundle .* and webhook\.clientAuth\.allowAnyClient=true/,
      );
    }
    const anyClient = helm(
      'template',
      'attestor',
      chart,
      '--kube-version',
      '1.37.2',
      '--set',
      `tls.caBundle=${servingCa()}`,
      '--set',
      'webhook.clientAuth.allowAnyClient=true',
    );
    assert.match(anyClient, /- --webhook-allow-any-client/);
    assert.doesNotMatch(anyClient, /webhook-client-ca/);
  });

  it('renders objects the API server accepts (dry run), webhooks fail closed, skip the release namespace and trust only the client CA, and the node policy exempts only the operator', () => {
    const rendered = helm(
      'template',
      'attestor',
      chart,
      '--namespace',
      namespace,
      '--kube-version',
      '1.37.2',
      '--set',
      `tls.caBundle=${Buffer.from(cp.caPem).toString('base64')}`,
      '--set',
      `webhook.clientAuth.caBundle=${clientCa()}`,
    );
    const kinds = [...rendered.matchAll(/^kind: (\w+)/gm)].map((m) => m[1]).sort();
    assert.deepEqual(kinds, [
      'ClusterRole',
      'ClusterRole',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'ConfigMap',
      'ConfigMap',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'DaemonSet',
      'Deployment',
      'MutatingWebhookConfiguration',
      'NetworkPolicy',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
      'ValidatingWebhookConfiguration',
    ]);
    assert.doesNotMatch(rendered, /failurePolicy: Ignore/);
    assert.doesNotMatch(rendered, /validate-nodes/, 'no node webhook');
    assert.match(rendered, new RegExp(`values:\\s*\\n\\s*- kube-system\\s*\\n\\s*- ${namespace}`));
    assert.match(rendered, /- --webhook-client-ca=\/etc\/attestor\/webhook-client-ca\/ca\.crt/);
    assert.ok(
      rendered.includes(`ca.crt: ${JSON.stringify(cp.webhookClientCaPem)}`),
      'the client CA ConfigMap holds the PEM',
    );
    assert.ok(
      rendered.includes(`request.userInfo.username in ["system:serviceaccount:${namespace}:attestor-operator"]`),
      'the operator of this release is exempt',
    );
    const out = fixture.dryRun(rendered);
    assert.equal((out.match(/\(server dry run\)/g) ?? []).length, 25, out);

    // The agent countersigns for its node's confidential-node pods on a hostPort, with API access
    // for that only (TokenReview, reading pods); turned off, it has none.
    assert.match(rendered, /- --countersign-address=0\.0\.0\.0:8444/);
    assert.match(rendered, /containerPort: 8444, hostPort: 8444/);
    assert.match(
      rendered,
      /name: attestor-agent\n(?:.*\n){7}rules:\n- apiGroups: \[authentication\.k8s\.io\]\n {2}resources: \[tokenreviews\]\n {2}verbs: \[create\]\n- apiGroups: \[""\]\n {2}resources: \[pods\]\n {2}verbs: \[get\]\n---/,
    );
    const withoutCountersigning = helm(
      'template',
      'attestor',
      chart,
      '--kube-version',
      '1.37.2',
      '--set',
      `tls.caBundle=${servingCa()}`,
      '--set',
      `webhook.clientAuth.caBundle=${clientCa()}`,
      '--set',
      'agent.countersign.enabled=false',
    );
    assert.match(withoutCountersigning, /- --no-countersign/);
    assert.doesNotMatch(withoutCountersigning, /hostPort/);
    assert.equal([...withoutCountersigning.matchAll(/^kind: ClusterRole$/gm)].length, 1);
    assert.match(withoutCountersigning, /automountServiceAccountToken: false\n {6}nodeSelector/);
  });

  it("runs the operator in a confidential pod that reads its own CVM evidence from configfs-tsm, as root of the pod VM without capabilities; evidence none runs it as non-root, and a confidential node's configfs-tsm is mounted only when asked; replicas share the Coordinator identity by peer recovery unless turned off or without own evidence", () => {
    const base = [
      'template',
      'attestor',
      chart,
      '--kube-version',
      '1.37.2',
      '--set',
      `tls.caBundle=${servingCa()}`,
      '--set',
    ];
    const render = (...set: string[]) =>
      helm(
        ...base,
        `webhook.clientAuth.caBundle=${clientCa()}`,
        ...set.flatMap((v) => ['--set', v]),
        '--show-only',
        'templates/operator.yaml',
      );
    const confidential = render();
    assert.match(confidential, /runtimeClassName: kata-qemu-snp\n/);
    assert.match(confidential, /- --coordinator-evidence=configfs-tsm\n/);
    assert.match(confidential, /- --coordinator-tsm-root=\/sys\/kernel\/config\/tsm\/report\n/);
    assert.match(confidential, /securityContext: \{ runAsUser: 0, runAsNonRoot: false,/);
    assert.match(confidential, /capabilities: \{ drop: \[ALL\] \}/);
    assert.doesNotMatch(confidential, /hostPath/, "in a pod VM a hostPath would be the host's directory");
    // Peer recovery: through the Service that selects the leader, with the operator's own token for the peer audience.
    assert.match(confidential, /- --coordinator-peers=https:\/\/attestor-coordinator\.default\.svc:8443\n/);
    assert.match(confidential, /serviceAccountToken: \{ path: token, audience: attestor-peer,/);
    assert.match(confidential, /rollingUpdate: \{ maxUnavailable: 0, maxSurge: 1 \}/);
    assert.doesNotMatch(render('operator.peerRecovery.enabled=false'), /coordinator-peers|attestor-peer/);
    const plain = render('operator.confidential.runtimeClassName=', 'operator.confidential.evidence=none');
    assert.doesNotMatch(plain, /runtimeClassName/);
    assert.match(plain, /- --coordinator-evidence=none\n/);
    assert.doesNotMatch(plain, /coordinator-peers/, 'without own evidence a replica cannot prove itself to the leader');
    assert.match(plain, /securityContext: \{ runAsNonRoot: true,/);
    const node = render('operator.confidential.runtimeClassName=', 'operator.confidential.tsmHostPath=true');
    assert.match(node, /hostPath: \{ path: \/sys\/kernel\/config\/tsm\/report, type: Directory \}/);
  });

  it("renders workload.secretServiceUrl into the operator's --secret-service-url (the worker-proxy sidecars' secret service) beside --init-image, and nothing without it", () => {
    const render = (...extra: string[]) =>
      helm(
        'template',
        'attestor',
        chart,
        '--namespace',
        namespace,
        '--kube-version',
        '1.37.2',
        '--set',
        `tls.caBundle=${Buffer.from(cp.caPem).toString('base64')}`,
        '--set',
        `webhook.clientAuth.caBundle=${Buffer.from(cp.caPem).toString('base64')}`,
        '--set',
        `image.digest=sha256:${'ab'.repeat(32)}`,
        ...extra,
      );
    const url = 'https://secret-service.attestor-system.svc:8443';
    const rendered = render('--set', `workload.secretServiceUrl=${url}`);
    assert.match(rendered, /- --init-image=\S+@sha256:(ab){32}\n/);
    assert.match(rendered, new RegExp(`- --secret-service-url=${url.replaceAll('.', '\\.')}\n`));
    assert.doesNotMatch(render(), /--secret-service-url/);
  });

  it('renders webhook.gpuResourcePrefixes into the operator flag and the CEL alike, and webhook.excludedNamespaces into the GPU and binding webhooks', () => {
    const rendered = helm(
      'template',
      'attestor',
      chart,
      '--namespace',
      namespace,
      '--kube-version',
      '1.37.2',
      '--set',
      `tls.caBundle=${Buffer.from(cp.caPem).toString('base64')}`,
      '--set',
      `webhook.clientAuth.caBundle=${Buffer.from(cp.caPem).toString('base64')}`,
      '--set',
      'webhook.gpuResourcePrefixes={amd.com/gpu,nvidia.com/gpu}',
      '--set',
      'webhook.excludedNamespaces={gpu-operator}',
    );
    assert.match(rendered, /- --gpu-resource-prefixes=amd\.com\/gpu,nvidia\.com\/gpu\n/);
    // The CEL of both GPU pod entries uses the same list, and nothing else is left over.
    assert.equal(rendered.split('["amd.com/gpu","nvidia.com/gpu"].exists(p, n.startsWith(p))').length - 1, 8);
    assert.doesNotMatch(rendered, /nvidia\.com\/mig-/);
    assert.equal(
      (rendered.match(new RegExp(`- kube-system\\s*\\n\\s*- ${namespace}\\s*\\n\\s*- gpu-operator\\n`, 'g')) ?? [])
        .length,
      4,
      'GPU pods (validate, mutate) and both binding entries',
    );
    // The API server compiles the CEL it was given.
    const out = fixture.dryRun(rendered);
    assert.match(
      out,
      /mutatingwebhookconfiguration\.admissionregistration\.k8s\.io\/attestor created \(server dry run\)/,
    );
  });
});

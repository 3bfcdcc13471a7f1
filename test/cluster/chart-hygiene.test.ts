// The chart's hygiene (issue 11): values.schema.json refuses typos and wrong types, names are
// release-scoped and labelled as Helm's, the CRDs are templates with crds.enabled / crds.keep,
// a cert-manager mode the real API server accepts with cert-manager's own CRD installed, and the
// values for availability, collateral and reachability, each rendered and dry-run applied.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { projectRoot } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { CHART_DIR, chartFixture, type RenderedObject, renderedObjects } from '../harness/chart.ts';

type Obj = RenderedObject;

const CERTIFICATE_CRD = join(projectRoot, 'test/fixtures/cert-manager/cert-manager.io_certificates.yaml');

describe('Helm chart charts/attestor: schema, names, CRDs, certificates and operability values', function () {
  const chart = chartFixture('chart-hygiene');
  const { namespace } = chart;
  const template = chart.template;
  const objects = renderedObjects;
  const ca = () => chart.servingCa();
  const refusal = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err);
    }
    assert.fail('rendered, but must be refused');
  };
  const dryRun = chart.dryRun;

  it('values.schema.json refuses a wrong type, a misspelt key at any level, a bad duration, an unknown enum value and a caBundle that is not base64 PEM', () => {
    assert.match(
      refusal(() => template('attestor', 'operator.replicas=two')),
      /\/operator\/replicas': got string, want integer/,
    );
    assert.match(
      refusal(() => template('attestor', 'operator.maxHeapMiB=32')),
      /\/operator\/maxHeapMiB': minimum: got 32, want 64/,
    );
    assert.match(
      refusal(() => template('attestor', 'operator.tokenReviewCacheTTL=ten')),
      /\/operator\/tokenReviewCacheTTL': 'ten' does not match pattern/,
    );
    assert.match(
      refusal(() => template('attestor', 'operator.replicaz=2')),
      /additional properties 'replicaz' not allowed/,
    );
    assert.match(
      refusal(() => template('attestor', 'agent.countersign.hostport=1')),
      /\/agent\/countersign': additional properties 'hostport' not allowed/,
    );
    assert.match(
      refusal(() => template('attestor', 'imageTag=1')),
      /additional properties 'imageTag' not allowed/,
    );
    assert.match(
      refusal(() => template('attestor', 'operator.grantTTL=2min')),
      /\/operator\/grantTTL': '2min' does not match pattern/,
    );
    assert.match(
      refusal(() => template('attestor', 'certificates.mode=auto')),
      /\/certificates\/mode/,
    );
    assert.match(
      refusal(() => template('attestor', 'tls.caBundle=eA==')),
      /\/tls\/caBundle': 'eA==' does not match pattern/,
    );
    // Base64 that starts like a PEM certificate but is not one: the template decodes and refuses it.
    const garbled = Buffer.from('-----BEGIN CERTIFICATE-----\nnot a certificate\n').toString('base64');
    assert.match(
      refusal(() => template('attestor', `tls.caBundle=${garbled}`)),
      /tls\.caBundle must be the base64 of a PEM certificate/,
    );
    assert.match(
      refusal(() => template('attestor', `webhook.clientAuth.caBundle=${garbled}`)),
      /webhook\.clientAuth\.caBundle must be the base64 of a PEM certificate/,
    );
  });

  it('refuses to render without an image, and says where the build commands are', () => {
    assert.match(
      refusal(() => template('attestor', 'image.repository=')),
      /image\.repository is required: .*charts\/attestor\/README\.md/,
    );
  });

  it('names every object after the release, labels it as Helm-managed with helm.sh/chart, and passes the names the processes must know as flags', () => {
    const release = 'blue';
    const rendered = objects(template(release, 'crds.enabled=false'));
    for (const o of rendered) {
      assert.match(o.metadata.name, /^blue-attestor(-|$)/, `${o.kind} ${o.metadata.name} is release-scoped`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${o.kind} ${o.metadata.name}`);
      assert.equal(o.metadata.labels?.['helm.sh/chart'], 'attestor-0.1.0', `${o.kind} ${o.metadata.name}`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], release);
    }
    const byName = (kind: string, name: string) => {
      const found = rendered.find((o) => o.kind === kind && o.metadata.name === name);
      assert.ok(found, `${kind} ${name}`);
      return found;
    };
    const operator = byName('Deployment', 'blue-attestor-operator');
    const args: string[] = operator.spec.template.spec.containers[0].args;
    assert.equal(operator.spec.template.spec.serviceAccountName, 'blue-attestor-operator');
    byName('ServiceAccount', 'blue-attestor-operator');
    byName('ServiceAccount', 'blue-attestor-agent');
    byName('Service', 'blue-attestor-coordinator');
    byName('Service', 'blue-attestor-webhook');
    byName('ConfigMap', 'blue-attestor-ca');
    for (const flag of [
      `--operator-service-account=system:serviceaccount:${namespace}:blue-attestor-operator`,
      `--agent-service-account=system:serviceaccount:${namespace}:blue-attestor-agent`,
      '--lease-name=blue-attestor-operator',
      `--coordinator-peers=https://blue-attestor-coordinator.${namespace}.svc:8443`,
      '--tls-cert-file=/etc/attestor/tls/tls.crt',
    ])
      assert.ok(args.includes(flag), flag);
    assert.equal(
      operator.spec.template.spec.volumes.find((v: Obj) => v.name === 'tls').secret.secretName,
      'blue-attestor-serving-cert',
    );
    const agent = byName('DaemonSet', 'blue-attestor-agent');
    assert.ok(
      agent.spec.template.spec.containers[0].args.includes(
        `--coordinator=https://blue-attestor-coordinator.${namespace}.svc:8443`,
      ),
    );
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'])
      for (const webhook of byName(kind, 'blue-attestor').webhooks)
        assert.equal(webhook.clientConfig.service.name, 'blue-attestor-webhook');
    const policy = byName('ValidatingAdmissionPolicy', 'blue-attestor-node-gating');
    assert.match(
      policy.spec.matchConditions[0].expression,
      new RegExp(`system:serviceaccount:${namespace}:blue-attestor-operator`),
    );
    byName('ValidatingAdmissionPolicyBinding', 'blue-attestor-node-gating');
    // A second release shares no name with the first among the cluster-scoped objects.
    const clusterScoped = (os: Obj[]) =>
      os.filter((o) => !o.metadata.namespace).map((o) => `${o.kind}/${o.metadata.name}`);
    const green = clusterScoped(objects(template('green', 'crds.enabled=false')));
    assert.deepEqual(
      clusterScoped(rendered).filter((n) => green.includes(n)),
      [],
    );
    assert.ok(
      dryRun(template('green', 'crds.enabled=false')).includes(
        'validatingwebhookconfiguration.admissionregistration.k8s.io/green-attestor created (server dry run)',
      ),
    );
  });

  it("keeps every name within Kubernetes' 63 characters for the longest release name Helm allows (53)", () => {
    const release = `r${'x'.repeat(52)}`;
    const rendered = objects(
      template(
        release,
        'crds.enabled=false',
        'certificates.mode=cert-manager',
        'certificates.certManager.issuerRef.name=ca',
        'tls.caBundle=',
      ),
    );
    const long = rendered.map((o) => o.metadata.name).filter((n) => n.length > 63);
    assert.deepEqual(long, []);
    assert.ok(rendered.every((o) => o.metadata.name.startsWith(release.slice(0, 40))));
  });

  it('templates the CRDs: installed and kept by default (helm.sh/resource-policy: keep), left out with crds.enabled=false, not kept with crds.keep=false', () => {
    const crds = (...sets: string[]) =>
      objects(template('attestor', ...sets)).filter((o) => o.kind === 'CustomResourceDefinition');
    const kept = crds();
    assert.deepEqual(kept.map((c) => c.metadata.name).sort(), [
      'aiworkers.attestor.dev',
      'manifests.attestor.dev',
      'nodeattestations.attestor.dev',
    ]);
    for (const crd of kept) assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.deepEqual(crds('crds.enabled=false'), []);
    for (const crd of crds('crds.keep=false')) assert.equal(crd.metadata.annotations, undefined);
  });

  it("cert-manager mode: a Certificate for the Services' DNS names, CA injection into both webhook configurations, the CA from the Secret; the API server accepts it with cert-manager's CRD installed", async () => {
    const kc = chart.cp.kubeConfig();
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(readFileSync(CERTIFICATE_CRD, 'utf8'));
    await ext.createCustomResourceDefinition({ body: crd }).catch((err) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
    await waitFor(
      async () =>
        (await ext.readCustomResourceDefinition({ name: crd.metadata!.name! })).status?.conditions?.some(
          (c) => c.type === 'Established' && c.status === 'True',
        ) ?? false,
      { timeoutMs: 30_000, description: 'the Certificate CRD is established' },
    );
    const text = template(
      'attestor',
      'certificates.mode=cert-manager',
      'certificates.certManager.issuerRef.name=attestor-ca',
      'tls.caBundle=',
      'coordinator.externalHostnames={attest.example.com}',
    );
    const rendered = objects(text);
    const certificate = rendered.find((o) => o.kind === 'Certificate');
    assert.ok(certificate);
    assert.equal(certificate.spec.secretName, 'attestor-serving-cert');
    assert.deepEqual(certificate.spec.dnsNames, [
      `attestor-coordinator.${namespace}.svc`,
      `attestor-coordinator.${namespace}.svc.cluster.local`,
      `attestor-webhook.${namespace}.svc`,
      `attestor-webhook.${namespace}.svc.cluster.local`,
      'attest.example.com',
    ]);
    assert.deepEqual(certificate.spec.issuerRef, { name: 'attestor-ca', kind: 'Issuer', group: 'cert-manager.io' });
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const config = rendered.find((o) => o.kind === kind)!;
      assert.equal(
        config.metadata.annotations?.['cert-manager.io/inject-ca-from'],
        `${namespace}/attestor-serving-cert`,
      );
      for (const webhook of config.webhooks)
        assert.equal(webhook.clientConfig.caBundle, undefined, 'cert-manager injects it');
    }
    assert.equal(rendered.filter((o) => o.kind === 'ConfigMap' && o.metadata.name === 'attestor-ca').length, 0);
    assert.match(text, /secret: \{ name: attestor-serving-cert, items: \[\{ key: ca\.crt, path: ca\.crt \}\] \}/);
    assert.doesNotMatch(text, /name: attestor-ca,/);
    const out = dryRun(text);
    assert.match(out, /certificate\.cert-manager\.io\/attestor-serving-cert created \(server dry run\)/);
    assert.match(
      refusal(() => template('attestor', 'certificates.mode=cert-manager', 'tls.caBundle=')),
      /certificates\.certManager\.issuerRef\.name is required/,
    );
  });

  it('availability: a PodDisruptionBudget and topology spread for the operator, a priority class when asked; the agent tolerates nvidia.com/gpu taints, runs as system-node-critical, and takes nodeSelector, tolerations and runtimeClassName values', () => {
    const rendered = objects(
      template(
        'attestor',
        'operator.priorityClassName=system-cluster-critical',
        'agent.runtimeClassName=kata-qemu-snp',
        'agent.tolerations[0].key=example.com/pool',
        'agent.tolerations[0].operator=Exists',
        'agent.nodeSelector.pool=gpu',
      ),
    );
    const pdb = rendered.find((o) => o.kind === 'PodDisruptionBudget')!;
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, {
      'app.kubernetes.io/name': 'attestor',
      'app.kubernetes.io/instance': 'attestor',
      'app.kubernetes.io/component': 'operator',
    });
    const operator = rendered.find((o) => o.kind === 'Deployment')!.spec.template.spec;
    assert.equal(operator.priorityClassName, 'system-cluster-critical');
    assert.deepEqual(
      operator.topologySpreadConstraints.map((c: Obj) => [c.topologyKey, c.whenUnsatisfiable]),
      [
        ['kubernetes.io/hostname', 'DoNotSchedule'],
        ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
      ],
    );
    // The V8 heap limit, about half the memory limit (docs/operations.md, "Fleet size").
    const heapLimit = (spec: Obj) =>
      spec.containers.find((c: Obj) => c.name === 'operator').env.find((e: Obj) => e.name === 'NODE_OPTIONS')?.value;
    assert.equal(heapLimit(operator), '--max-old-space-size=256');
    assert.equal(operator.containers.find((c: Obj) => c.name === 'operator').resources.limits.memory, '512Mi');
    const larger = objects(template('attestor', 'operator.maxHeapMiB=1024')).find((o) => o.kind === 'Deployment')!;
    assert.equal(heapLimit(larger.spec.template.spec), '--max-old-space-size=1024');
    // Fleet-size tunables reach the operator's and the agent's flags.
    const args = (spec: Obj) => spec.containers[0].args as string[];
    assert.ok(args(operator).includes('--token-review-cache-ttl=10s'));
    assert.ok(args(operator).includes('--eviction-rollout-max=10m'));
    const tuned = objects(
      template('attestor', 'operator.tokenReviewCacheTTL=0s', 'agent.countersign.tokenReviewCacheTTL=5s'),
    );
    assert.ok(
      args(tuned.find((o) => o.kind === 'Deployment')!.spec.template.spec).includes('--token-review-cache-ttl=0s'),
    );
    assert.ok(
      args(tuned.find((o) => o.kind === 'DaemonSet')!.spec.template.spec).includes('--token-review-cache-ttl=5s'),
    );
    const agent = rendered.find((o) => o.kind === 'DaemonSet')!.spec.template.spec;
    assert.equal(agent.priorityClassName, 'system-node-critical');
    assert.equal(agent.runtimeClassName, 'kata-qemu-snp');
    assert.deepEqual(agent.nodeSelector, { 'nvidia.com/gpu.present': 'true', pool: 'gpu' });
    assert.deepEqual(agent.tolerations, [
      { key: 'attestor.dev/unattested', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'example.com/pool', operator: 'Exists' },
    ]);
    const defaults = objects(template('attestor')).find((o) => o.kind === 'DaemonSet')!.spec.template.spec;
    assert.deepEqual(
      defaults.tolerations[1],
      { key: 'nvidia.com/gpu', operator: 'Exists' },
      'a tainted GPU pool gets an agent',
    );
    assert.match(
      dryRun(template('attestor', 'operator.priorityClassName=system-cluster-critical')),
      /poddisruptionbudget\.policy\/attestor-operator created \(server dry run\)/,
    );
  });

  it('collateral: a writable cache volume under the read-only root file system, --collateral-fetch, mirrors and proxy environment from values', () => {
    const text = template(
      'attestor',
      'collateral.fetch=true',
      'collateral.mirrors.amdKds=https://kds.mirror.example',
      'collateral.mirrors.nvidiaRim=https://rim.mirror.example',
      'collateral.snpProduct=Genoa',
      'collateral.proxy.httpsProxy=http://proxy.example:3128',
      'collateral.proxy.noProxy=.svc\\,.cluster.local',
    );
    const container = objects(text).find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0];
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    for (const flag of [
      '--collateral-cache=/var/cache/attestor/collateral',
      '--collateral-fetch',
      '--amd-kds-url=https://kds.mirror.example',
      '--nvidia-rim-url=https://rim.mirror.example',
      '--snp-product=Genoa',
    ])
      assert.ok(container.args.includes(flag), flag);
    assert.ok(!container.args.some((a: string) => a.startsWith('--intel-pcs-url')));
    assert.deepEqual(
      container.volumeMounts.find((m: Obj) => m.name === 'collateral'),
      { name: 'collateral', mountPath: '/var/cache/attestor/collateral' },
    );
    assert.deepEqual(
      container.env.filter((e: Obj) => e.name.endsWith('PROXY')),
      [
        { name: 'HTTPS_PROXY', value: 'http://proxy.example:3128' },
        { name: 'NO_PROXY', value: '.svc,.cluster.local' },
      ],
    );
    const air = objects(
      template('attestor', 'collateral.cache.type=persistentVolumeClaim', 'collateral.cache.existingClaim=collateral'),
    );
    const volumes = air.find((o) => o.kind === 'Deployment')!.spec.template.spec.volumes;
    assert.deepEqual(
      volumes.find((v: Obj) => v.name === 'collateral'),
      { name: 'collateral', persistentVolumeClaim: { claimName: 'collateral' } },
    );
    assert.ok(
      !objects(template('attestor'))
        .find((o) => o.kind === 'Deployment')!
        .spec.template.spec.containers[0].args.includes('--collateral-fetch'),
      'air-gapped by default',
    );
  });

  it('reachability and hygiene: a LoadBalancer or a TLS-passthrough Ingress for the Coordinator, NetworkPolicies that open only the needed ports, imagePullSecrets everywhere, and NOTES.txt', () => {
    const text = template(
      'attestor',
      'coordinator.service.type=LoadBalancer',
      'coordinator.service.loadBalancerSourceRanges={10.0.0.0/8}',
      'coordinator.ingress.enabled=true',
      'coordinator.ingress.host=attest.example.com',
      'imagePullSecrets[0].name=regcred',
    );
    const rendered = objects(text);
    const service = rendered.find((o) => o.kind === 'Service' && o.metadata.name === 'attestor-coordinator')!;
    assert.equal(service.spec.type, 'LoadBalancer');
    assert.deepEqual(service.spec.loadBalancerSourceRanges, ['10.0.0.0/8']);
    const ingress = rendered.find((o) => o.kind === 'Ingress')!;
    assert.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/ssl-passthrough'], 'true');
    assert.equal(ingress.spec.rules[0].host, 'attest.example.com');
    assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, 'attestor-coordinator');
    const policies = rendered.filter((o) => o.kind === 'NetworkPolicy');
    assert.deepEqual(
      policies.map((p) => [p.metadata.name, p.spec.ingress.flatMap((r: Obj) => r.ports.map((port: Obj) => port.port))]),
      [
        ['attestor-operator', ['coordinator', 'webhook', 'probes']],
        ['attestor-agent', ['probes', 'countersign']],
      ],
    );
    for (const o of rendered.filter((o) => ['Deployment', 'DaemonSet'].includes(o.kind)))
      assert.deepEqual(o.spec.template.spec.imagePullSecrets, [{ name: 'regcred' }], o.kind);
    assert.match(dryRun(text), /ingress\.networking\.k8s\.io\/attestor-coordinator created \(server dry run\)/);
    // NOTES.txt as `helm install` prints it (helm template leaves it out).
    const install = chart.helm(
      ...[
        'install',
        'attestor',
        CHART_DIR,
        '--dry-run=client',
        '--kubeconfig',
        chart.cp.kubeconfigPath,
        '--namespace',
        namespace,
      ].concat(
        [
          'image.repository=registry.example/attestor',
          `tls.caBundle=${ca()}`,
          `webhook.clientAuth.caBundle=${ca()}`,
          // The CRDs are there already, installed by the test harness rather than by a release.
          'crds.enabled=false',
        ].flatMap((s) => ['--set', s]),
      ),
    );
    const notes = install.slice(install.indexOf('\nNOTES:\n'));
    assert.match(notes, /Image: registry\.example\/attestor:0\.1\.0\n {2}Not pinned by digest/);
    assert.match(notes, /ImagePullBackOff/);
    assert.match(notes, /kubectl get nodeattestations/);
  });
});

// The chart's secret service and secret store (issue 10): off by default; turned on, everything it
// renders is accepted by the real API server (server-side dry run), the role pods get exactly the
// `attestor init` and `attestor init --renew` sidecar that withWorkloadInit adds, the etcd members run
// exactly the flags the loopback store tests prove (store-member.ts), the secret service dials
// the StatefulSet's members, and the operator hands the secret service's URL to the worker-proxy
// sidecars.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import {
  INIT_CONTAINER_NAME,
  RENEW_CONTAINER_NAME,
  withWorkloadInit,
} from '../../src/controllers/aiworker/workload.ts';
import { secretStoreMemberArgs } from '../../src/secrets/store-member.ts';
import { CHART_DIR, chartFixture, renderedObjects, TEST_IMAGE } from '../harness/chart.ts';

interface Rendered {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

const CERTIFICATE_DIR = '/run/attestor';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const ETCD_DIGEST = `sha256:${'cd'.repeat(32)}`;

describe('Helm chart: the secret service and its secret store', function () {
  const chart = chartFixture('store-chart');
  const { namespace } = chart;
  const render = (...set: string[]) => chart.template('attestor', ...set);
  const enabled = [
    `image.digest=${DIGEST}`,
    'secretService.enabled=true',
    'secretStore.enabled=true',
    `secretStore.image.digest=${ETCD_DIGEST}`,
    `secretService.policy=${Buffer.from('package agent_policy\ndefault AllowRequestsFailingPolicy := true\n').toString('base64')}`,
  ];
  const objects = (text: string) => renderedObjects(text) as Rendered[];
  const find = (all: Rendered[], kind: string, name: string) => {
    const found = all.find((o) => o.kind === kind && o.metadata.name === name);
    assert.ok(found, `${kind} ${name} is rendered`);
    return found;
  };
  const podSpec = (o: Rendered) => (o.spec as { template: { spec: k8s.V1PodSpec } }).template.spec;

  it('passes helm lint with both turned on', () => {
    const out = chart.helm('lint', CHART_DIR, ...[...chart.requiredValues(), ...enabled].flatMap((v) => ['--set', v]));
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders neither by default, so that nothing waits for policies the Manifest does not have', () => {
    const names = objects(render()).map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(
      names.filter((n) => /secret-(service|store)/.test(n)),
      [],
    );
    assert.doesNotMatch(render(), /--secret-service-url/);
  });

  it('refuses to render without the images pinned by digest or without a store for the secret service', () => {
    const refused = (pattern: RegExp, ...set: string[]) =>
      assert.throws(
        () => render(...set),
        (err: Error & { stderr?: string }) => pattern.test(String(err.stderr)),
      );
    refused(/secretStore\.image\.digest is required/, `image.digest=${DIGEST}`, 'secretStore.enabled=true');
    refused(/need an image pinned by digest/, 'secretStore.enabled=true', `secretStore.image.digest=${ETCD_DIGEST}`);
    refused(/needs a secret store/, `image.digest=${DIGEST}`, 'secretService.enabled=true');
    refused(
      /at most one of secretService\.apiKeys/,
      ...enabled,
      'secretService.apiKeys.existingSecret=keys',
      `secretService.apiKeys.sha256={${'0f'.repeat(32)}}`,
    );
  });

  it('renders objects the API server accepts (server-side dry run): a Deployment of 2 with a PodDisruptionBudget and Service for the secret service, a StatefulSet of 3 with a headless Service and a PodDisruptionBudget for the store', () => {
    const rendered = render(...enabled, `secretService.apiKeys.sha256={${'0f'.repeat(32)}}`);
    const all = objects(rendered);
    const ours = all
      .filter((o) => /^attestor-secret-(service|store)/.test(o.metadata.name))
      .map((o) => `${o.kind}/${o.metadata.name}`)
      .sort();
    assert.deepEqual(ours, [
      'Deployment/attestor-secret-service',
      'NetworkPolicy/attestor-secret-service',
      'NetworkPolicy/attestor-secret-store',
      'PodDisruptionBudget/attestor-secret-service',
      'PodDisruptionBudget/attestor-secret-store',
      'Secret/attestor-secret-service-api-keys',
      'Service/attestor-secret-service',
      'Service/attestor-secret-store',
      'ServiceAccount/attestor-secret-service',
      'ServiceAccount/attestor-secret-store',
      'StatefulSet/attestor-secret-store',
    ]);
    const out = chart.dryRun(rendered);
    assert.equal((out.match(/\(server dry run\)/g) ?? []).length, all.length, out);
    for (const name of ours) assert.match(out, new RegExp(`${name.split('/')[1]} created \\(server dry run\\)`));

    const store = find(all, 'StatefulSet', 'attestor-secret-store');
    assert.equal(store.spec?.replicas, 3);
    assert.equal(store.spec?.serviceName, 'attestor-secret-store');
    assert.equal(store.spec?.podManagementPolicy, 'Parallel');
    const headless = find(all, 'Service', 'attestor-secret-store');
    assert.equal(headless.spec?.clusterIP, 'None');
    assert.equal(headless.spec?.publishNotReadyAddresses, true);
    const data = podSpec(store).volumes?.find((v) => v.name === 'data');
    assert.equal(data?.emptyDir?.medium, 'Memory', "the store's data is in the pod VM's memory");
    for (const o of [store, find(all, 'Deployment', 'attestor-secret-service')]) {
      assert.equal(podSpec(o).runtimeClassName, 'kata-qemu-snp');
      assert.equal(podSpec(o).automountServiceAccountToken, false);
    }
    assert.equal(find(all, 'Service', 'attestor-secret-service').spec?.type, 'ClusterIP');
    const exposed = objects(render(...enabled, 'secretService.service.type=LoadBalancer'));
    assert.equal(find(exposed, 'Service', 'attestor-secret-service').spec?.type, 'LoadBalancer');
    const service = find(all, 'Deployment', 'attestor-secret-service');
    assert.equal(service.spec?.replicas, 2, 'replicas share the storage key: one holder stays up while another starts');
    const serviceContainer = podSpec(service).containers.find((c) => c.name === 'secret-service');
    assert.equal(
      serviceContainer?.readinessProbe?.httpGet?.path,
      '/readyz',
      'ready only once it holds the storage key',
    );
    assert.equal(
      (service.spec as { strategy?: { rollingUpdate?: { maxUnavailable?: number } } }).strategy?.rollingUpdate
        ?.maxUnavailable,
      0,
    );
    const single = objects(render(...enabled, 'secretService.replicas=1'));
    assert.equal(
      single.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'attestor-secret-service'),
      false,
      'no budget that would block every drain of a single replica',
    );
    const annotations = (service.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template
      .metadata.annotations;
    assert.equal(annotations?.['io.katacontainers.config.agent.policy'], enabled.at(-1)!.split('=').slice(1).join('='));
  });

  it("gives both role pods exactly withWorkloadInit's attestor init and its attestor init --renew native sidecar (same inputs)", () => {
    const all = objects(render(...enabled));
    for (const o of [
      find(all, 'Deployment', 'attestor-secret-service'),
      find(all, 'StatefulSet', 'attestor-secret-store'),
    ]) {
      const spec = podSpec(o);
      assert.deepEqual(
        (spec.initContainers ?? []).map((c) => [c.name, c.restartPolicy]),
        [
          [INIT_CONTAINER_NAME, undefined],
          [RENEW_CONTAINER_NAME, 'Always'],
        ],
      );
      // The spec without what withWorkloadInit adds (both init containers included), given to withWorkloadInit again.
      const stripMount = (c: k8s.V1Container): k8s.V1Container => {
        const mounts = (c.volumeMounts ?? []).filter((m) => m.mountPath !== CERTIFICATE_DIR);
        const { volumeMounts: _, ...rest } = c;
        return mounts.length > 0 ? { ...rest, volumeMounts: mounts } : rest;
      };
      const bare: k8s.V1PodSpec = {
        ...spec,
        containers: spec.containers.map(stripMount),
        volumes: (spec.volumes ?? []).filter(
          (v) => !['attestor-certificate', 'attestor-workload-token'].includes(v.name),
        ),
      };
      delete bare.initContainers;
      if (bare.volumes?.length === 0) delete bare.volumes;
      const expected = withWorkloadInit(bare, {
        initImage: `${TEST_IMAGE}@${DIGEST}`,
        coordinatorUrl: `https://attestor-coordinator.${namespace}.svc:8443`,
        coordinatorCaPem: chart.cp.caPem,
      });
      assert.deepEqual(spec, expected, `${o.kind} ${o.metadata.name}`);
    }
  });

  it('runs etcd with the flags the loopback store tests prove (store-member.ts), from the StatefulSet names, and the secret service dials those members', () => {
    const all = objects(render(...enabled));
    const store = find(all, 'StatefulSet', 'attestor-secret-store');
    const etcd = podSpec(store).containers.find((c) => c.name === 'etcd');
    assert.equal(etcd?.image, `gcr.io/etcd-development/etcd:v3.6.7@${ETCD_DIGEST}`);
    // Liveness: etcd takes this pod's own (renewed) certificate as a client's; else it restarts and loads the new mesh CA.
    const probe = etcd?.livenessProbe?.exec?.command ?? [];
    assert.ok(
      probe.includes(`--cert=${CERTIFICATE_DIR}/cert.pem`) && probe.includes(`--key=${CERTIFICATE_DIR}/key.pem`),
    );
    assert.deepEqual(probe.slice(-3), ['get', '--consistency=s', '/attestor/liveness']);
    const host = (name: string) => `${name}.attestor-secret-store.${namespace}.svc`;
    const members = [0, 1, 2].map((i) => `attestor-secret-store-${i}`);
    const expected = secretStoreMemberArgs({
      name: '$(POD_NAME)',
      dataDir: '/var/lib/etcd/data',
      listenClientUrl: 'https://0.0.0.0:2379',
      advertiseClientUrl: `https://${host('$(POD_NAME)')}:2379`,
      listenPeerUrl: 'https://0.0.0.0:2380',
      advertisePeerUrl: `https://${host('$(POD_NAME)')}:2380`,
      initialCluster: members.map((name) => ({ name, peerUrl: `https://${host(name)}:2380` })),
      initialClusterState: 'new',
      clusterToken: `attestor-secret-store-${namespace}`,
      certFile: `${CERTIFICATE_DIR}/cert.pem`,
      keyFile: `${CERTIFICATE_DIR}/key.pem`,
      meshCaFile: `${CERTIFICATE_DIR}/mesh-ca.pem`,
      listenMetricsUrl: 'http://0.0.0.0:2381',
    });
    assert.deepEqual(etcd?.args?.slice(0, expected.length), expected);
    assert.deepEqual(etcd?.args?.slice(expected.length), [
      '--quota-backend-bytes=268435456',
      '--auto-compaction-mode=periodic',
      '--auto-compaction-retention=1h',
    ]);
    assert.deepEqual(
      etcd?.volumeMounts?.find((m) => m.mountPath === '/var/lib/etcd'),
      { name: 'data', mountPath: '/var/lib/etcd' },
    );

    const service = podSpec(find(all, 'Deployment', 'attestor-secret-service')).containers[0]!;
    assert.ok(
      service.args?.includes(`--etcd=${members.map((name) => `https://${host(name)}:2379`).join(',')}`),
      JSON.stringify(service.args),
    );
    const five = objects(render(...enabled, 'secretStore.replicas=5'));
    const etcdFlag = podSpec(find(five, 'Deployment', 'attestor-secret-service')).containers[0]!.args!.find((a) =>
      a.startsWith('--etcd='),
    );
    assert.equal(etcdFlag?.split(',').length, 5);
    assert.match(etcdFlag!, /attestor-secret-store-4\./);
  });

  it("defaults the operator's --secret-service-url to the chart's secret service; an explicit workload.secretServiceUrl wins", () => {
    const url = `https://attestor-secret-service.${namespace}.svc:8443`;
    assert.ok(render(...enabled).includes(`- --secret-service-url=${url}\n`));
    const external = 'https://secrets.example.com:443';
    const explicit = render(...enabled, `workload.secretServiceUrl=${external}`);
    assert.ok(explicit.includes(`- --secret-service-url=${external}\n`));
    assert.ok(!explicit.includes(url));
    // An external store: the secret service alone, dialling the endpoints given.
    const alone = render(
      `image.digest=${DIGEST}`,
      'secretService.enabled=true',
      'secretService.etcdEndpoints={https://etcd-a.example:2379,https://etcd-b.example:2379}',
    );
    assert.match(alone, /- --etcd=https:\/\/etcd-a\.example:2379,https:\/\/etcd-b\.example:2379\n/);
    assert.doesNotMatch(alone, /kind: StatefulSet/);
  });
});

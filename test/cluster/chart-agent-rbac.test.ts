// The chart's agent RBAC is what the node agent uses, no more and no less. `attestor dev` cannot
// show it (its agents are pod-CVM-only and never countersign), so this test does what a
// DaemonSet pod of the chart does: it applies the chart's rendered RBAC (a release of its own, so
// that the cluster-scoped roles of other tests stay as they are), gives the agent the API token
// the kubelet would mount (its service account, bound to its pod on its node), and runs the agent's
// countersigner (`kubernetesCountersigner`, what `attestor agent` serves) for a confidential-node
// pod on that node and for a token of the wrong audience. The API server's audit log then holds
// every call the agent made: each must be allowed by the chart's agent ClusterRole and none
// refused, and each of its rules must have been used. A new call, a missing rule or a rule nothing
// uses fails it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { NodeAgent } from '../../src/agent/agent.ts';
import { createAgentKey } from '../../src/agent/agent-key.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import { type RunningCountersignServer, startCountersignServer } from '../../src/agent/countersign-server.ts';
import {
  createSimulatedPlatform,
  SimulatedCvmSource,
  SimulatedGpuControl,
} from '../../src/agent/evidence/simulated.ts';
import { kubernetesCountersigner } from '../../src/cli/agent.ts';
import { applyYaml } from '../../src/dev/apply.ts';
import { type ControlPlane, defaultBinDir } from '../../src/dev/control-plane.ts';
import { renderChartRbac } from '../../src/dev/operator-identity.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { COUNTERSIGN_PATH, NODE_AGENT_AUDIENCE, signProof } from '../../src/protocol/countersignature.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';
import { buildHelm, HELM_BUILD_TIMEOUT_MS } from '../harness/helm.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface RbacObject {
  kind: string;
  metadata: { name: string };
  rules?: Rule[];
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace: string }[];
}
interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
  responseStatus?: { code: number };
  requestURI: string;
}

const IMAGE = `registry.example/attestor@sha256:${'a9'.repeat(32)}`;
const key = (verb: string, group: string, resource: string) => `${verb} ${group ? `${group}/` : ''}${resource}`;

describe("the chart's agent RBAC against the calls the node agent makes (audit log)", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let core: k8s.CoreV1Api;
  let server: RunningCountersignServer | undefined;
  let agentClient: CoordinatorClient | undefined;
  const namespace = uniqueName('agent-rbac');
  const release = uniqueName('rbac');
  const node = `${namespace}-gpu`;
  let rbac: RbacObject[] = [];

  before(async function () {
    this.timeout(HELM_BUILD_TIMEOUT_MS);
    await buildHelm();
    cp = await sharedControlPlane();
    core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const rendered = renderChartRbac(defaultBinDir, namespace, release);
    rbac = (yaml.loadAll(rendered) as RbacObject[]).filter(Boolean);
    await applyYaml(cp.kubeConfig(), rendered);
    await cp.createGpuNode(node, { gpus: 1 });
  });
  after(async () => {
    await server?.close();
    await agentClient?.close();
    await core?.deleteNode({ name: node }).catch(() => undefined);
    const rbacApi = cp?.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
    for (const o of rbac) {
      if (o.kind === 'ClusterRole') await rbacApi?.deleteClusterRole({ name: o.metadata.name }).catch(() => undefined);
      if (o.kind === 'ClusterRoleBinding')
        await rbacApi?.deleteClusterRoleBinding({ name: o.metadata.name }).catch(() => undefined);
    }
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  /** A pod on the node; the kubelet would mount tokens bound to it. */
  const createPod = (name: string, serviceAccountName: string) =>
    core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, namespace },
        spec: {
          nodeName: node,
          serviceAccountName,
          automountServiceAccountToken: false,
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'c', image: IMAGE }],
        },
      },
    });
  const boundToken = async (serviceAccount: string, pod: k8s.V1Pod, audiences?: string[]) => {
    const request = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: {
        spec: {
          ...(audiences ? { audiences } : {}),
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
        },
      },
    });
    return request.status?.token ?? assert.fail('TokenRequest returned no token');
  };

  it('every call the agent makes is allowed by its ClusterRole and none was refused; every rule was used', async () => {
    const agentRole = rbac.find((o) => o.kind === 'ClusterRole' && o.metadata.name.endsWith('-agent'));
    assert.ok(agentRole?.rules, 'the chart renders an agent ClusterRole (agent.countersign.enabled is the default)');
    const binding = rbac.find((o) => o.kind === 'ClusterRoleBinding' && o.roleRef?.name === agentRole.metadata.name);
    const subject = binding?.subjects?.[0];
    assert.ok(subject && subject.kind === 'ServiceAccount' && subject.namespace === namespace);
    assert.ok(
      rbac.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === subject.name),
      "the binding names the chart's agent ServiceAccount",
    );

    // What the DaemonSet's pod gets: its service account's API token, bound to it, on its node.
    const agentPod = await createPod('agent', subject.name);
    const apiToken = await boundToken(subject.name, agentPod);
    const cluster = cp.kubeConfig().getCurrentCluster()!;
    const agentConfig = new k8s.KubeConfig();
    agentConfig.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'agent', token: apiToken }],
      contexts: [{ name: 'agent', cluster: cluster.name, user: 'agent' }],
      currentContext: 'agent',
    });
    // The real agent, not attested yet (it never ran): it answers 503 after every check that
    // needs the API server passed, so the run makes every call a countersignature needs.
    const platform = await createSimulatedPlatform();
    agentClient = new CoordinatorClient('https://127.0.0.1:9', cp.caPem, async () => 'unused');
    const agent = new NodeAgent({
      nodeName: node,
      client: agentClient,
      cvm: new SimulatedCvmSource(platform, { platform: 'snp', policyHash: '0'.repeat(64) }),
      gpus: new SimulatedGpuControl(platform, { uuids: [`${node}-GPU-0`] }),
      log: silentLogger,
    });
    server = await startCountersignServer({
      host: '127.0.0.1',
      port: 0,
      log: silentLogger,
      countersigner: kubernetesCountersigner(agentConfig, node, agent),
    });

    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'worker' } } });
    const workerPod = await createPod('worker', 'worker');
    const ask = async (token: string) => {
      const podKey = await createAgentKey();
      const nonce = 'c4'.repeat(32);
      const body = {
        nonce,
        spki: Buffer.from(podKey.spkiDer).toString('base64url'),
        proof: await signProof(nonce, podKey.spkiDer, podKey.privateKey),
      };
      const response = await fetch(`http://127.0.0.1:${server!.port}${COUNTERSIGN_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { error?: string } };
    };
    // The pod's token for its node agent: TokenReview, the pod read, the proof; then the agent
    // itself says it is not attested yet.
    const answer = await ask(await boundToken('worker', workerPod, [NODE_AGENT_AUDIENCE]));
    // A token for the API server, not for the agent: TokenReview refuses it.
    const wrongAudience = await ask(await boundToken('worker', workerPod));

    const username = `system:serviceaccount:${namespace}:${subject.name}`;
    const agentCalls = () =>
      readFileSync(cp.auditLogPath, 'utf8')
        .split('\n')
        .filter((line) => line.includes(username))
        .map((line) => JSON.parse(line) as AuditEvent)
        .filter((e) => e.user.username === username && e.objectRef?.resource);
    // Two TokenReviews and one pod read, once the audit log has them.
    const events = await waitFor(() => (agentCalls().length >= 3 ? agentCalls() : undefined), {
      description: "the agent's calls in the audit log",
    });
    const refused = events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.requestURI}`);
    assert.deepEqual([...new Set(refused)], [], 'calls the chart does not allow');
    // A missing rule shows above; the answers come after.
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.match(answer.body.error ?? '', /is not attested yet/);
    assert.equal(wrongAudience.status, 401, JSON.stringify(wrongAudience.body));

    const rules = agentRole.rules;
    const allows = (verb: string, group: string, resource: string) =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const used = new Set<string>();
    const unallowed = new Set<string>();
    for (const e of events) {
      const ref = e.objectRef!;
      const group = ref.apiGroup ?? '';
      const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource!;
      used.add(key(e.verb, group, resource));
      if (!allows(e.verb, group, resource)) unallowed.add(key(e.verb, group, resource));
    }
    assert.deepEqual([...unallowed], [], 'calls no rule allows');
    const granted = rules.flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => key(v, g, res)))),
    );
    assert.deepEqual(
      granted.filter((g) => !used.has(g)),
      [],
      `rules nothing used (calls made: ${[...used].sort().join(', ')})`,
    );
    assert.deepEqual([...used].sort(), ['create authentication.k8s.io/tokenreviews', 'get pods']);
  });
});

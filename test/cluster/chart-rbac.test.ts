// The chart's RBAC is what the operator uses, no more and no less. `attestor dev` runs the
// operator as the chart's ServiceAccount with the chart's rules (src/dev/operator-identity.ts);
// the API server's audit log (src/dev/control-plane-pki.ts) records every call it makes. This test
// runs the whole dev flow, then compares: every call must be allowed by a rule (and none was
// refused), and every rule must have been used or be listed below with the flow that needs it
// but that the dev run does not reach. A new call without a rule, a rule nothing uses any more,
// or an entry below that the run did use, fails it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { OPERATOR_NAMESPACE } from '../../src/cli/dev.ts';
import { defaultBinDir, projectRoot } from '../../src/dev/control-plane.ts';
import { operatorUsername, renderChartRbac } from '../../src/dev/operator-identity.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { buildHelm, HELM_BUILD_TIMEOUT_MS } from '../harness/helm.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string };
  responseStatus?: { code: number };
  requestURI: string;
}

/** Rules of the chart the dev flow does not exercise, and the flow (and test) that needs each. */
const NOT_REACHED_BY_DEV: Record<string, string> = {
  'create pods/eviction': 'evicting GPU pods from a node that lost its attestation (node-gating tests)',
  'delete pods': 'deleting GPU pods whose eviction a PodDisruptionBudget refused for pdbGrace (node-gating tests)',
  'patch apps/deployments/scale':
    'holding a pod-CVM AIWorker at 0 replicas without an init image (aiworker-controller tests)',
  'patch attestor.dev/manifests': 'the finalizer of owner-signed Manifests (manifest-owners tests)',
  'get attestor.dev/nodeattestations':
    'node agents attesting confidential nodes: the dev sample is pod-CVM only (attestation-flow tests)',
  'create attestor.dev/nodeattestations': 'node agents attesting confidential nodes (attestation-flow tests)',
  'update attestor.dev/nodeattestations/status': 'node agents attesting confidential nodes (attestation-flow tests)',
  'patch events': 'a repeat of an Event within its series window',
};

const key = (verb: string, group: string, resource: string) => `${verb} ${group ? `${group}/` : ''}${resource}`;

describe("the chart's operator RBAC against the calls the operator makes (audit log of `attestor dev`)", function () {
  const stateDir = mkdtempSync(join(tmpdir(), 'attestor-rbac-test-'));
  before(async function () {
    this.timeout(HELM_BUILD_TIMEOUT_MS);
    await buildHelm();
  });
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  it('every call is allowed by a rule and none was refused; every rule was used or names the flow that needs it', async function () {
    this.timeout(15 * 60_000);
    const child = spawn(
      process.execPath,
      [join(projectRoot, 'src/cli/main.ts'), 'dev', '--state-dir', stateDir, '--nodes', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // A missing rule shows as a refusal below, so the flow's own failure is reported after those.
    let flowFailed: Error | undefined;
    try {
      await waitFor(() => /AIWorker default\/llama: ready 2\/2/.test(output), {
        timeoutMs: 5 * 60_000,
        description: 'the sample AIWorker Ready',
      });
    } catch (err) {
      flowFailed = new Error(`${(err as Error).message}; output of attestor dev:\n${output}`);
    } finally {
      child.kill('SIGINT');
      await exited;
    }

    const rbac = (yaml.loadAll(renderChartRbac(defaultBinDir, OPERATOR_NAMESPACE)) as Record<string, unknown>[]).filter(
      Boolean,
    ) as { kind: string; metadata: { name: string }; rules?: Rule[] }[];
    const clusterRules = rbac.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'attestor-operator')!.rules!;
    const namespacedRules = rbac.find((o) => o.kind === 'Role' && o.metadata.name === 'attestor-leader-election')!
      .rules!;
    const allows = (rules: Rule[], verb: string, group: string, resource: string) =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

    const operator = operatorUsername(OPERATOR_NAMESPACE);
    const events = readFileSync(join(stateDir, 'logs', 'audit.log'), 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter((e) => e.user.username === operator && e.objectRef?.resource);
    const refused = events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.requestURI}`);
    assert.deepEqual([...new Set(refused)], [], 'calls the chart does not allow');
    if (flowFailed) throw flowFailed;
    // A floor only (the operator compares before it writes, so an idle flow makes few calls).
    assert.ok(events.length > 50, `the audit log holds the operator's calls (${events.length})`);

    const used = new Set<string>();
    const unallowed = new Set<string>();
    const allowed = (verb: string, group: string, resource: string, inNamespace: boolean) =>
      allows(clusterRules, verb, group, resource) || (inNamespace && allows(namespacedRules, verb, group, resource));
    for (const e of events) {
      const ref = e.objectRef!;
      const group = ref.apiGroup ?? '';
      const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource!;
      used.add(key(e.verb, group, resource));
      // A server-side apply that creates its object is a patch answered 201, for which the API
      // server checks create as well.
      if (e.verb === 'patch' && e.responseStatus?.code === 201) used.add(key('create', group, resource));
      const inNamespace = ref.namespace === OPERATOR_NAMESPACE;
      if (!allowed(e.verb, group, resource, inNamespace)) unallowed.add(key(e.verb, group, resource));
    }
    assert.deepEqual([...unallowed], [], 'calls no rule allows');

    const granted = new Set<string>();
    for (const rule of [...clusterRules, ...namespacedRules])
      for (const group of rule.apiGroups)
        for (const resource of rule.resources) for (const verb of rule.verbs) granted.add(key(verb, group, resource));
    const unused = [...granted].filter((g) => !used.has(g) && !(g in NOT_REACHED_BY_DEV)).sort();
    assert.deepEqual(unused, [], `rules nothing used (calls made: ${[...used].sort().join(', ')})`);
    const stale = Object.keys(NOT_REACHED_BY_DEV).filter((k) => used.has(k) || !granted.has(k));
    assert.deepEqual(stale, [], 'NOT_REACHED_BY_DEV entries that the run did use, or that no rule grants');
  });
});

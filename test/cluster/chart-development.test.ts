// The chart's development mode (development.enabled, for kind: hack/kind-e2e.sh): with production
// values nothing of it renders (no development roots, no simulated agent or Coordinator evidence,
// no simulated hardware port, no runc RuntimeClass); enabled, it renders objects the real API
// server accepts (server-side dry run) with the operator, the agents and the runtime classes of
// development mode.
import assert from 'node:assert/strict';
import { chartFixture } from '../harness/chart.ts';

/** What only development mode may render. */
const DEVELOPMENT_ONLY = [
  /--development-roots/,
  /--development-hardware/,
  /--coordinator-evidence=simulated/,
  /--simulated-/,
  /development-hw/,
  /kind: RuntimeClass/,
  /handler: runc/,
  /DEVELOPMENT ONLY/,
];

describe('Helm chart charts/attestor: development mode', function () {
  const chart = chartFixture('chart-dev');
  const render = (...set: string[]) => chart.template('attestor', `image.digest=sha256:${'ab'.repeat(32)}`, ...set);

  it('renders nothing of development mode with production values (the defaults, and the other operator evidence and agent settings)', () => {
    for (const set of [
      [],
      ['operator.confidential.evidence=none', 'operator.confidential.runtimeClassName='],
      ['operator.confidential.tsmHostPath=true', 'agent.countersign.enabled=false'],
    ]) {
      const rendered = render(...set);
      for (const pattern of DEVELOPMENT_ONLY)
        assert.doesNotMatch(rendered, pattern, `${pattern} rendered with ${set.join(' ') || 'the defaults'}`);
      assert.match(rendered, /- --tsm-root=\/sys\/kernel\/config\/tsm\/report/, 'the agent reads configfs-tsm');
      assert.match(rendered, /securityContext: \{ privileged: true, runAsUser: 0 \}/, 'the agent drives real GPUs');
    }
  });

  it('with development.enabled renders the development operator, simulated agents and runc runtime classes, which the API server accepts (dry run)', () => {
    const rendered = render('development.enabled=true');
    const hardware = `http://attestor-coordinator.${chart.namespace}.svc:8446`;
    assert.match(rendered, /- --development-roots\n/);
    assert.match(rendered, /- --coordinator-evidence=simulated\n/);
    assert.ok(rendered.includes(`- --development-hardware-url=${hardware}\n`), 'pod inits reach the hardware');
    assert.ok(rendered.includes(`- --simulated-hardware=${hardware}\n`), 'the agents reach the hardware');
    assert.match(rendered, /- --simulated-policy-hash=[0-9a-f]{64}\n/);
    assert.doesNotMatch(rendered, /--tsm-root=|--nvml-library|privileged: true|hostPath/, 'no device, no host path');
    assert.doesNotMatch(rendered, /runtimeClassName: kata-qemu-snp/, 'the operator runs as a plain pod');
    assert.doesNotMatch(rendered, /coordinator-peers/, 'a simulated Coordinator has nothing to prove to peers');
    assert.match(rendered, /name: development-hw, port: 8446, targetPort: development-hw/);
    const classes = [
      ...rendered.matchAll(/kind: RuntimeClass\nmetadata:\n {2}name: (\S+)\n(?:.*\n)*?handler: runc/g),
    ].map((m) => m[1]);
    assert.deepEqual(classes, ['kata-qemu-nvidia-gpu-snp', 'kata-qemu-nvidia-gpu-tdx']);
    const out = chart.dryRun(rendered);
    assert.match(out, /runtimeclass\.node\.k8s\.io\/kata-qemu-nvidia-gpu-snp created \(server dry run\)/);
    assert.match(out, /deployment\.apps\/attestor-operator created \(server dry run\)/);
    assert.match(out, /daemonset\.apps\/attestor-agent created \(server dry run\)/);
    const objects = [...rendered.matchAll(/^kind: \w+$/gm)].length;
    assert.equal((out.match(/\(server dry run\)/g) ?? []).length, objects, out);
  });
});

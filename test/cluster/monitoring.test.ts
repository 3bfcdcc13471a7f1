// What the chart ships for Prometheus and Grafana: the PrometheusRule, the ServiceMonitor with the
// metrics Service, and the dashboard's ConfigMap pass a server-side dry run against the real API
// server with prometheus-operator's CRDs (vendored in test/fixtures/prometheus-operator); and every
// metric name the alerts and the dashboard query is one a real operator (Coordinator and webhook
// included) declares on its /metrics. promtool (Debian's prometheus package) checks the rules and
// runs the alerts' firing tests (test/fixtures/prometheus-alerts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { createSimulatedPlatform } from '../../src/agent/evidence/simulated.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { CHART_DIR, chartFixture } from '../harness/chart.ts';
import { startTestOperator } from '../harness/cluster.ts';
import { declaredNames } from '../harness/prometheus-text.ts';

const crds = join(projectRoot, 'test/fixtures/prometheus-operator');
const alertTests = join(projectRoot, 'test/fixtures/prometheus-alerts');

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression selects: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...stripped.matchAll(/(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()/g)]
    .map((m) => m[1]!)
    .filter((w) => !PROMQL_WORDS.has(w.toLowerCase()));
}

describe('monitoring: PrometheusRule, ServiceMonitor and Grafana dashboard', function () {
  this.timeout(180_000);
  const chart = chartFixture('monitoring');
  const { namespace } = chart;
  let cp: ControlPlane;
  let kubectl: (args: string[], input?: string) => string;

  before(async () => {
    cp = chart.cp;
    kubectl = (args, input) =>
      execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args], {
        encoding: 'utf8',
        ...(input !== undefined ? { input } : {}),
      });
    kubectl(['apply', '--server-side', '-f', crds]);
    kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/prometheusrules.monitoring.coreos.com',
      'crd/servicemonitors.monitoring.coreos.com',
    ]);
  });

  const render = (...set: string[]) => chart.template('attestor', ...set);
  const monitoringOn = [
    'monitoring.prometheusRule.enabled=true',
    'monitoring.serviceMonitor.enabled=true',
    'monitoring.dashboard.enabled=true',
  ];
  const objects = (rendered: string) =>
    (
      yaml.loadAll(rendered) as ({ kind: string; metadata: { name: string }; spec?: Record<string, unknown> } | null)[]
    ).filter((o) => o !== null);

  it('ships nothing for prometheus-operator or Grafana by default, and keeps /metrics off the webhook Service', () => {
    const rendered = objects(render());
    assert.deepEqual(
      rendered.filter(
        (o) => ['PrometheusRule', 'ServiceMonitor'].includes(o.kind) || o.metadata.name === 'attestor-dashboard',
      ),
      [],
    );
    const service = (name: string) =>
      rendered.find((o) => o.kind === 'Service' && o.metadata.name === name)?.spec as {
        ports: { name: string; port: number; targetPort: string }[];
      };
    assert.deepEqual(
      service('attestor-webhook').ports.map((p) => p.name),
      ['webhook'],
    );
    assert.deepEqual(service('attestor-metrics').ports, [{ name: 'metrics', port: 8080, targetPort: 'probes' }]);
  });

  it('renders a PrometheusRule, a ServiceMonitor and the dashboard ConfigMap that the API server accepts (server-side dry run with the CRDs)', () => {
    const rendered = render(...monitoringOn);
    const wanted = objects(rendered).filter(
      (o) =>
        ['PrometheusRule', 'ServiceMonitor'].includes(o.kind) ||
        ['attestor-metrics', 'attestor-dashboard'].includes(o.metadata.name),
    );
    assert.deepEqual(wanted.map((o) => o.kind).sort(), ['ConfigMap', 'PrometheusRule', 'Service', 'ServiceMonitor']);
    const out = kubectl(
      ['apply', '--dry-run=server', '-n', namespace, '-f', '-'],
      wanted.map((o) => JSON.stringify(o)).join('\n'),
    );
    assert.equal((out.match(/\(server dry run\)/g) ?? []).length, 4, out);
    const rule = wanted.find((o) => o.kind === 'PrometheusRule')!;
    const alerts = (rule.spec as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) =>
      g.rules.map((r) => r.alert),
    );
    assert.deepEqual(alerts, [
      'AttestorGPUNodesClosed',
      'AttestorManifestRolloutStalled',
      'AttestorEvidenceRefused',
      'AttestorCollateralExpiring',
      'AttestorWebhookErrors',
      'AttestorNoLeader',
    ]);
    const dashboard = wanted.find((o) => o.metadata.name === 'attestor-dashboard') as unknown as {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    assert.equal(dashboard.metadata.labels.grafana_dashboard, '1');
    assert.equal(JSON.parse(dashboard.data['attestor.json']!).uid, 'attestor');
  });

  it('passes promtool check rules, and promtool test rules: each alert fires when it should and not before', async () => {
    const rule = objects(render(...monitoringOn)).find((o) => o.kind === 'PrometheusRule')!;
    const dir = await mkdtemp(join(tmpdir(), 'promtool-'));
    await writeFile(join(dir, 'full.yaml'), yaml.dump(rule.spec));
    assert.match(
      execFileSync('promtool', ['check', 'rules', join(dir, 'full.yaml')], { encoding: 'utf8' }),
      /SUCCESS: 6 rules found/,
    );
    // The firing tests leave the annotations out: they are about expressions and durations.
    const groups = (rule.spec as { groups: { rules: Record<string, unknown>[] }[] }).groups.map((g) => ({
      ...g,
      rules: g.rules.map(({ annotations: _, ...r }) => r),
    }));
    await writeFile(join(dir, 'rules.yaml'), yaml.dump({ groups }));
    await writeFile(join(dir, 'alerts.test.yaml'), await readFile(join(alertTests, 'alerts.test.yaml')));
    const out = execFileSync('promtool', ['test', 'rules', join(dir, 'alerts.test.yaml')], { encoding: 'utf8' });
    assert.match(out, /SUCCESS/);
  });

  it('has dashboard queries that Prometheus parses (promtool check rules, each query as a recording rule)', async () => {
    const dashboard = JSON.parse(await readFile(join(CHART_DIR, 'dashboards/attestor.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const rules = dashboard.panels.flatMap((p, i) =>
      p.targets.map((t, j) => ({
        record: `attestor:dashboard_${i}_${j}`,
        expr: t.expr.replaceAll('$__rate_interval', '5m'),
      })),
    );
    const dir = await mkdtemp(join(tmpdir(), 'promtool-'));
    await writeFile(join(dir, 'dashboard.yaml'), yaml.dump({ groups: [{ name: 'dashboard', rules }] }));
    assert.match(
      execFileSync('promtool', ['check', 'rules', join(dir, 'dashboard.yaml')], { encoding: 'utf8' }),
      new RegExp(`SUCCESS: ${rules.length} rules found`),
    );
  });

  it('documents every alert in docs/alerts.md', async () => {
    const doc = await readFile(join(projectRoot, 'docs/alerts.md'), 'utf8');
    const rule = objects(render(...monitoringOn)).find((o) => o.kind === 'PrometheusRule')!;
    for (const group of (rule.spec as { groups: { rules: { alert: string }[] }[] }).groups)
      for (const r of group.rules) assert.match(doc, new RegExp(`^## ${r.alert}$`, 'm'), r.alert);
  });

  describe('against a real operator', () => {
    let operator: RunningOperator;
    before(async () => {
      const serving = await issueCertificate(cp.certificateAuthority, {
        commonName: 'attestor',
        usage: 'server',
        ipAddresses: ['127.0.0.1'],
      });
      const dir = await mkdtemp(join(tmpdir(), 'monitoring-'));
      await writeFile(join(dir, 'tls.crt'), serving.certificatePem);
      await writeFile(join(dir, 'tls.key'), serving.privateKeyPem);
      operator = await startTestOperator(cp.kubeConfig(), {
        namespace,
        coordinator: localCoordinatorOptions(serving, await createSimulatedPlatform(), namespace),
        webhook: {
          host: '127.0.0.1',
          port: 0,
          tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
          clientAuth: 'none',
        },
      });
      await operator.webhookPort;
    });
    after(async () => {
      await operator?.stop();
    });

    it('queries only metric names the operator exports, in every alert and every dashboard panel', async () => {
      const exported = declaredNames(
        await (await fetch(`http://127.0.0.1:${operator.manager.probePort}/metrics`)).text(),
      );
      const rule = objects(render(...monitoringOn)).find((o) => o.kind === 'PrometheusRule')!;
      const exprs = (rule.spec as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) =>
        g.rules.map((r) => r.expr),
      );
      const dashboard = JSON.parse(await readFile(join(CHART_DIR, 'dashboards/attestor.json'), 'utf8')) as {
        panels: { targets: { expr: string }[] }[];
      };
      for (const panel of dashboard.panels) for (const t of panel.targets) exprs.push(t.expr);
      const used = new Set(exprs.flatMap(metricNames));
      assert.ok(
        used.has('attestor_collateral_next_update_timestamp_seconds') && used.has('rest_client_requests_total'),
      );
      assert.ok(used.size >= 15, [...used].join(' '));
      assert.deepEqual(
        [...used].filter((n) => !exported.has(n)),
        [],
        'names queried that /metrics does not declare',
      );
    });
  });
});
